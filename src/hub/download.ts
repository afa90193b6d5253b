/**
 * One file of one revision into the shared cache: the Hub is asked for the commit and etag; a
 * file the cache already holds for that commit is never fetched again; otherwise its blob is
 * downloaded under a lock to `blobs/<etag>.incomplete` (resumed with a Range request after an
 * interruption), checked (size, and sha256 for LFS files, whose etag is their sha256), renamed
 * into place and linked from the snapshot. Offline, only the cache is read.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { ElectraError } from '../errors';
import { RepoCache } from './cache';
import { COMMIT_RE } from './id';
import {
  HttpStatusError,
  authHeaders,
  backoffMs,
  commitOf,
  describe,
  errorCode,
  headFile,
  isTransient,
  resolveUrl,
  send,
  sleep,
  withRetries,
  type FileMeta,
} from './http';
import { withLock } from './lock';
import { progressFor } from './progress';
import type { DownloadProgress, HubSettings } from './settings';

/** One file to fetch: `file` is its path in the repository (subfolder included). */
export interface FileRequest {
  repo: string;
  revision: string;
  file: string;
  /** The command that would fetch it, for ERR_OFFLINE messages. */
  fetchCommand: string;
}

export type FetchResult =
  | { kind: 'file'; path: string; commit: string; downloaded: number }
  /** Not in the revision (`known`: the Hub said so, now or in `.no_exist`), or offline and not cached. */
  | { kind: 'missing'; commit: string | undefined; known: boolean };

const SHA256_RE = /^[0-9a-f]{64}$/;
const FULL_DISK = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** sha256 (hex) of a file, read in chunks. */
export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function sizeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}

/** The cache alone: what a commit (given, or from refs/) holds. */
function fromCache(rc: RepoCache, req: FileRequest): FetchResult {
  const commit = rc.readRef(req.revision);
  if (commit === undefined) return { kind: 'missing', commit: undefined, known: false };
  if (rc.has(commit, req.file)) return { kind: 'file', path: rc.pointerPath(commit, req.file), commit, downloaded: 0 };
  return { kind: 'missing', commit, known: rc.isNoExist(commit, req.file) };
}

function tokenAdvice(s: HubSettings): string {
  return `set HF_TOKEN to a Hugging Face access token (https://huggingface.co/settings/tokens), or save one in ${s.tokenPath} (\`hf auth login\` does that)`;
}

/** An error answer of the Hub as an ElectraError that says what to do. */
function hubError(e: HttpStatusError, s: HubSettings, req: FileRequest): ElectraError {
  const code = errorCode(e);
  const where = `${req.repo}@${req.revision}`;
  if (code === 'GatedRepo') {
    return new ElectraError('ERR_AUTH', `${req.repo} is gated: accept its conditions at ${s.endpoint}/${req.repo} while logged in, then ${s.token ? `use a token of that account (the one from ${s.tokenSource} was refused)` : tokenAdvice(s)}`, { cause: e });
  }
  if (e.status === 401 || e.status === 403) {
    if (!s.token) return new ElectraError('ERR_AUTH', `${req.repo} needs a token (HTTP ${e.status}: it is private or gated, or does not exist): ${tokenAdvice(s)}`, { cause: e });
    if (code === 'RepoNotFound') return new ElectraError('ERR_NOT_FOUND', `${req.repo} was not found on ${s.endpoint}, or the token from ${s.tokenSource} has no access to it`, { cause: e });
    return new ElectraError('ERR_AUTH', `the Hub refused the token from ${s.tokenSource} for ${req.repo} (HTTP ${e.status}): check that it is valid and may read this repository`, { cause: e });
  }
  if (e.status === 404) {
    if (code === 'RepoNotFound') return new ElectraError('ERR_NOT_FOUND', `${req.repo} was not found on ${s.endpoint}`, { cause: e });
    if (code === 'RevisionNotFound') return new ElectraError('ERR_NOT_FOUND', `revision ${JSON.stringify(req.revision)} was not found in ${req.repo}`, { cause: e });
    return new ElectraError('ERR_NOT_FOUND', `${req.file} was not found in ${where} (${e.url})`, { cause: e });
  }
  return new ElectraError('ERR_NETWORK', `the Hub answered ${e.status} for ${e.url}`, { cause: e });
}

/** HEAD once; a 404 for a missing file is an answer (recorded in `.no_exist`), not an error. */
async function lookup(s: HubSettings, rc: RepoCache, req: FileRequest): Promise<FileMeta | { missing: true; commit: string | undefined }> {
  try {
    return await headFile(s, resolveUrl(s.endpoint, req.repo, req.revision, req.file));
  } catch (e) {
    if (!(e instanceof HttpStatusError) || isTransient(e)) throw e;
    const commit = commitOf(e);
    const code = errorCode(e);
    if (e.status === 404 && (code === 'EntryNotFound' || (code === undefined && commit !== undefined))) {
      if (commit) {
        rc.markNoExist(commit, req.file);
        rc.writeRef(req.revision, commit);
      }
      return { missing: true, commit };
    }
    throw hubError(e, s, req);
  }
}

/** GET `url` following redirects; the token goes only to the Hub's origin. */
async function getFollowing(s: HubSettings, url: string, extra: Record<string, string>): Promise<http.IncomingMessage> {
  let cur = url;
  for (let hops = 0; hops < 10; hops++) {
    const res = await send(cur, 'GET', { ...authHeaders(s, cur), 'accept-encoding': 'identity', ...extra }, s.timeoutMs);
    const status = res.statusCode ?? 0;
    const loc = res.headers.location;
    if (status >= 300 && status < 400 && loc) {
      res.resume();
      cur = new URL(loc, cur).toString();
      continue;
    }
    return res;
  }
  throw new ElectraError('ERR_NETWORK', `more than 10 redirects fetching ${url}`);
}

function writeFailure(file: string, e: unknown): ElectraError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (FULL_DISK.has(code)) {
    fs.rmSync(file, { force: true }); // a partial file on a full disk only keeps it full
    return new ElectraError('ERR_IO', `the disk is full writing ${file} (${code}); the partial file was removed, free some space and run again`, { cause: e });
  }
  return new ElectraError('ERR_IO', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
}

/** One GET into `inc`, resuming from its current size. Network failures are thrown as they come. */
async function getOnce(s: HubSettings, meta: FileMeta, inc: string, report: (bytes: number, done: boolean) => void): Promise<void> {
  let start = sizeOf(inc) ?? 0;
  if (meta.size !== undefined && start > meta.size) {
    fs.rmSync(inc, { force: true });
    start = 0;
  }
  if (meta.size !== undefined && start === meta.size && start > 0) return;
  const res = await getFollowing(s, meta.location, start > 0 ? { range: `bytes=${start}-` } : {});
  const status = res.statusCode ?? 0;
  if (status === 416) {
    res.resume();
    fs.rmSync(inc, { force: true }); // our partial file does not fit the server's: start over
    throw Object.assign(new Error(`the server refused to resume at byte ${start} (416)`), { code: 'ECONNRESET' });
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new HttpStatusError(status, res.headers, meta.location);
  }
  if (status === 206 && !new RegExp(`^bytes ${start}-`).test(String(res.headers['content-range'] ?? ''))) {
    res.resume();
    fs.rmSync(inc, { force: true });
    throw Object.assign(new Error(`the server resumed at the wrong place (${String(res.headers['content-range'])})`), { code: 'ECONNRESET' });
  }
  if (status === 200) start = 0; // Range ignored: the whole file comes again
  let fd: number;
  try {
    fd = fs.openSync(inc, start > 0 ? 'a' : 'w');
  } catch (e) {
    res.resume();
    throw writeFailure(inc, e);
  }
  let bytes = start;
  try {
    for await (const chunk of res) {
      try {
        fs.writeSync(fd, chunk as Buffer);
      } catch (e) {
        res.destroy();
        throw writeFailure(inc, e);
      }
      bytes += (chunk as Buffer).length;
      if (meta.size !== undefined && bytes > meta.size) {
        res.destroy();
        fs.rmSync(inc, { force: true });
        throw new ElectraError('ERR_NETWORK', `${meta.location} sent more than the ${meta.size} bytes the Hub announced: refused`);
      }
      report(bytes, false);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const expected = meta.size ?? (status === 200 && res.headers['content-length'] ? Number(res.headers['content-length']) : undefined);
  if (expected !== undefined && bytes !== expected) {
    throw Object.assign(new Error(`the connection ended after ${bytes} of ${expected} bytes`), { code: 'ECONNRESET' });
  }
}

/** Downloads the blob of `meta` (called holding its lock). */
async function downloadBlob(s: HubSettings, req: FileRequest, meta: FileMeta, blob: string): Promise<number> {
  const inc = `${blob}.incomplete`;
  const sink = progressFor(s);
  const report = (bytes: number, done: boolean) => sink?.({ repo: req.repo, file: req.file, bytes, total: meta.size, done } satisfies DownloadProgress);
  const what = `downloading ${req.file} of ${req.repo}`;
  const resumedFrom = sizeOf(inc) ?? 0;
  if (resumedFrom > 0) s.log(`${what}: resuming at byte ${resumedFrom}`);
  for (let refetch = 0; ; refetch++) {
    let failures = 0;
    for (;;) {
      const before = sizeOf(inc) ?? 0;
      try {
        await getOnce(s, meta, inc, report);
        break;
      } catch (e) {
        if (!isTransient(e)) throw e instanceof HttpStatusError ? new ElectraError(e.status === 404 ? 'ERR_NOT_FOUND' : 'ERR_NETWORK', `${what}: the server answered ${e.status} for ${e.url}`, { cause: e }) : e;
        if ((sizeOf(inc) ?? 0) > before) failures = 0; // progress was made: the budget starts again
        if (++failures >= s.retries) throw new ElectraError('ERR_NETWORK', `${what}: ${describe(e)} (gave up after ${s.retries} attempts without progress)`, { cause: e });
        const ms = backoffMs(s.retryDelayMs, failures);
        s.log(`${what}: ${describe(e)}; resuming in ${(ms / 1000).toFixed(1)} s`);
        await sleep(ms);
      }
    }
    report(sizeOf(inc) ?? 0, true);
    if (SHA256_RE.test(meta.etag)) {
      const got = await sha256File(inc);
      if (got !== meta.etag) {
        fs.rmSync(inc, { force: true });
        if (refetch >= 1) throw new ElectraError('ERR_NETWORK', `${what}: the sha256 of the bytes received is ${got}, not ${meta.etag}, twice: refused`);
        s.log(`${what}: sha256 ${got} does not match ${meta.etag}; refused, fetching it again`);
        continue;
      }
    }
    try {
      fs.renameSync(inc, blob);
    } catch (e) {
      throw new ElectraError('ERR_IO', `cannot move ${inc} to ${blob}: ${(e as Error).message}`, { cause: e });
    }
    return (sizeOf(blob) ?? 0) - resumedFrom;
  }
}

/** Whether a cached blob (or snapshot copy) matches what the Hub said: size always, sha256 when `verify`. */
async function blobMatches(file: string, meta: FileMeta, verify: boolean): Promise<boolean> {
  const size = sizeOf(file);
  if (size === undefined || (meta.size !== undefined && size !== meta.size)) return false;
  if (verify && SHA256_RE.test(meta.etag)) return (await sha256File(file)) === meta.etag;
  return true;
}

async function headWithCacheFallback(s: HubSettings, rc: RepoCache, req: FileRequest): Promise<FileMeta | { missing: true; commit: string | undefined } | FetchResult> {
  try {
    return await lookup(s, rc, req);
  } catch (e) {
    if (!isTransient(e)) throw e;
    // As huggingface_hub does: the Hub cannot be reached, but the cache has this revision's file.
    const cached = fromCache(rc, req);
    if (cached.kind === 'file' || cached.known) {
      s.log(`${req.repo}: the Hub is not reachable (${describe(e)}); using the cached ${req.file} of ${cached.commit!.slice(0, 12)}`);
      return cached;
    }
    return withRetries(s, `looking up ${req.file} in ${req.repo}@${req.revision}`, () => lookup(s, rc, req));
  }
}

/** Fetches one file into the cache (or finds it there). */
export async function fetchFile(s: HubSettings, req: FileRequest): Promise<FetchResult> {
  const rc = new RepoCache(s.cacheDir, req.repo);
  if (s.offline) return fromCache(rc, req);
  if (COMMIT_RE.test(req.revision) && !s.verify) {
    // Pinned to a commit: what the cache holds for it cannot change, so no request at all.
    if (rc.has(req.revision, req.file)) return { kind: 'file', path: rc.pointerPath(req.revision, req.file), commit: req.revision, downloaded: 0 };
    if (rc.isNoExist(req.revision, req.file)) return { kind: 'missing', commit: req.revision, known: true };
  }
  const got = await headWithCacheFallback(s, rc, req);
  if ('kind' in got) return got;
  if ('missing' in got) return { kind: 'missing', commit: got.commit, known: true };
  const meta = got;
  rc.writeRef(req.revision, meta.commit);
  const pointer = rc.pointerPath(meta.commit, req.file);
  if (rc.has(meta.commit, req.file)) {
    if (await blobMatches(pointer, meta, s.verify)) return { kind: 'file', path: pointer, commit: meta.commit, downloaded: 0 };
    s.log(`${req.repo}: the cached ${req.file} of ${meta.commit.slice(0, 12)} does not match the Hub's size or sha256; refused, fetching it again`);
    fs.rmSync(pointer, { force: true });
  }
  const blob = rc.blobPath(meta.etag);
  try {
    fs.mkdirSync(path.dirname(blob), { recursive: true });
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot create ${path.dirname(blob)}: ${(e as Error).message}`, { cause: e });
  }
  let downloaded = 0;
  await withLock(
    rc.lockPath(meta.etag),
    async () => {
      if (fs.existsSync(blob) && !(await blobMatches(blob, meta, s.verify))) {
        s.log(`${req.repo}: blob ${meta.etag} of ${req.file} does not match the Hub's size or sha256; refused, fetching it again`);
        fs.rmSync(blob, { force: true });
      }
      if (!fs.existsSync(blob)) downloaded = await downloadBlob(s, req, meta, blob);
      rc.link(blob, meta.commit, req.file);
    },
    { onWait: (owner) => s.log(`${req.repo}: waiting for ${owner}, which is downloading ${req.file}`) },
  );
  return { kind: 'file', path: pointer, commit: meta.commit, downloaded };
}
