/*
 * A mock Hugging Face Hub on 127.0.0.1 for the hub tests: the file protocol of huggingface.co as
 * huggingface_hub and electra-node use it, and a second server on another port as the "CDN" that
 * LFS files redirect to (another origin, so clients do not follow it on HEAD nor send the token).
 *
 *   HEAD/GET /{org}/{name}/resolve/{revision}/{path}
 *     small file: 200, ETag "<git blob sha1>", Content-Length, X-Repo-Commit
 *     LFS file (*.safetensors, *.bin): 302 to the CDN, X-Linked-Etag "<sha256>", X-Linked-Size
 *     renamed repo: 307 with a relative Location to the new name
 *     unknown repo 404 RepoNotFound; unknown revision 404 RevisionNotFound; missing file 404
 *     EntryNotFound with X-Repo-Commit; gated repo without the right token 401 GatedRepo
 *   GET /cdn/{sha256}: the bytes, with Range (206 / 416)
 *
 * Faults are queued per path and consumed once each, so every test loop ends by itself.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');

export interface MockRepo {
  /** revision name (branch or tag) -> commit */
  refs: Record<string, string>;
  /** commit -> file path -> contents */
  commits: Record<string, Record<string, Buffer>>;
  /** A token that must be sent (the repo is gated). */
  gatedToken?: string;
}

export type Fault =
  /** Close the connection after sending `after` bytes of the body. */
  | { kind: 'drop'; after: number }
  /** Send the body with one byte flipped. */
  | { kind: 'corrupt' }
  /** Answer with this status instead. */
  | { kind: 'status'; status: number }
  /** Ignore the Range header (answer 200 with the whole body). */
  | { kind: 'ignore-range' }
  /** Send this many bytes more than the file has. */
  | { kind: 'oversize'; extra: number };

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range: string | undefined;
  auth: string | undefined;
}

export const isLfs = (file: string) => /\.(safetensors|bin)$/.test(file);
export const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
export const gitBlobSha1 = (b: Buffer) => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const commitId = (seed: string) => crypto.createHash('sha1').update(seed).digest('hex');

/** A repository of fixture files, one commit on `main` (and any other refs given). */
export function repoFromDir(dir: string, files: string[], seed = dir, extraRefs: Record<string, string> = {}): MockRepo {
  const commit = commitId(seed);
  const content: Record<string, Buffer> = {};
  for (const f of files) content[f] = fs.readFileSync(path.join(dir, f));
  const refs: Record<string, string> = { main: commit };
  for (const r of Object.keys(extraRefs)) refs[r] = commit;
  return { refs, commits: { [commit]: content } };
}

export class MockHub {
  readonly repos = new Map<string, MockRepo>();
  /** old id -> new id */
  readonly renamed = new Map<string, string>();
  readonly log: LoggedRequest[] = [];
  /** Faults by URL path (hub or CDN), consumed in order. */
  readonly faults = new Map<string, Fault[]>();
  /** Bytes per chunk and ms between chunks of a body (to let a test kill a download midway). */
  throttle: { chunk: number; delayMs: number } | undefined;
  /** Called after each chunk of a body reaches the kernel: the URL path and the bytes sent in this response. */
  onSent: ((urlPath: string, sent: number) => void) | undefined;
  private blobs = new Map<string, Buffer>();
  private hub!: http.Server;
  private cdn!: http.Server;
  private sockets = new Set<import('node:net').Socket>();
  endpoint = '';
  cdnBase = '';

  async start(): Promise<this> {
    this.hub = http.createServer((q, r) => this.onHub(q, r));
    this.cdn = http.createServer((q, r) => this.onCdn(q, r));
    for (const s of [this.hub, this.cdn]) {
      s.on('connection', (sock) => {
        this.sockets.add(sock);
        sock.on('close', () => this.sockets.delete(sock));
      });
      await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
    }
    this.endpoint = `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnBase = `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([this.hub, this.cdn].map((s) => new Promise<void>((res) => s.close(() => res()))));
  }

  add(id: string, repo: MockRepo): MockRepo {
    this.repos.set(id, repo);
    for (const files of Object.values(repo.commits)) for (const [f, b] of Object.entries(files)) if (isLfs(f)) this.blobs.set(sha256(b), b);
    return repo;
  }

  fault(urlPath: string, ...f: Fault[]): void {
    this.faults.set(urlPath, [...(this.faults.get(urlPath) ?? []), ...f]);
  }

  /** The CDN path of an LFS file's contents. */
  cdnPath(b: Buffer): string {
    return `/cdn/${sha256(b)}`;
  }

  requests(server?: 'hub' | 'cdn'): LoggedRequest[] {
    return this.log.filter((l) => server === undefined || l.server === server);
  }

  private record(server: 'hub' | 'cdn', q: http.IncomingMessage): void {
    this.log.push({ server, method: q.method ?? '', path: q.url ?? '', range: q.headers.range, auth: q.headers.authorization });
  }

  private takeFault(p: string): Fault | undefined {
    const list = this.faults.get(p);
    const f = list?.shift();
    if (list && list.length === 0) this.faults.delete(p);
    return f;
  }

  private onHub(q: http.IncomingMessage, r: http.ServerResponse): void {
    this.record('hub', q);
    const url = (q.url ?? '').split('?')[0]!;
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    if (!m) return end(r, 404, {});
    const id = m[1]!;
    const revision = decodeURIComponent(m[2]!);
    const file = m[3]!.split('/').map(decodeURIComponent).join('/');
    const fault = this.takeFault(url);
    if (fault?.kind === 'status') return end(r, fault.status, {});
    const moved = this.renamed.get(id);
    if (moved) return end(r, 307, { location: `/${moved}/resolve/${m[2]}/${m[3]}` });
    const repo = this.repos.get(id);
    if (!repo) return end(r, 404, { 'x-error-code': 'RepoNotFound' });
    if (repo.gatedToken && q.headers.authorization !== `Bearer ${repo.gatedToken}`) return end(r, 401, { 'x-error-code': 'GatedRepo' });
    const commit = /^[0-9a-f]{40}$/.test(revision) && repo.commits[revision] ? revision : repo.refs[revision];
    if (!commit) return end(r, 404, { 'x-error-code': 'RevisionNotFound' });
    const body = repo.commits[commit]![file];
    if (!body) return end(r, 404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit });
    if (isLfs(file)) {
      return end(r, 302, {
        location: `${this.cdnBase}${this.cdnPath(body)}?expires=1`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${sha256(body)}"`,
        'x-linked-size': String(body.length),
        etag: `"${gitBlobSha1(Buffer.from(`pointer ${sha256(body)}`))}"`,
      });
    }
    this.sendBody(q, r, body, { 'x-repo-commit': commit, etag: `W/"${gitBlobSha1(body)}"` }, fault, url);
  }

  private onCdn(q: http.IncomingMessage, r: http.ServerResponse): void {
    this.record('cdn', q);
    const p = (q.url ?? '').split('?')[0]!;
    const m = /^\/cdn\/([0-9a-f]{64})$/.exec(p);
    const body = m ? this.blobs.get(m[1]!) : undefined;
    if (!body) return end(r, 404, {});
    const fault = this.takeFault(p);
    if (fault?.kind === 'status') return end(r, fault.status, {});
    this.sendBody(q, r, body, { etag: `"${m![1]}"` }, fault, p);
  }

  private sendBody(q: http.IncomingMessage, r: http.ServerResponse, full: Buffer, headers: Record<string, string>, fault: Fault | undefined, urlPath: string): void {
    let body = full;
    if (fault?.kind === 'oversize') body = Buffer.concat([full, Buffer.alloc(fault.extra, 0x41)]);
    if (fault?.kind === 'corrupt') {
      body = Buffer.from(full);
      const i = Math.floor(body.length / 2);
      body[i] = body[i]! ^ 0xff;
    }
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(q.headers.range ?? '');
    if (range && fault?.kind !== 'ignore-range') {
      start = Number(range[1]);
      const last = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      if (start >= body.length) return end(r, 416, { ...headers, 'content-range': `bytes */${body.length}` });
      body = body.subarray(start, last + 1);
      status = 206;
      headers = { ...headers, 'content-range': `bytes ${start}-${last}/${full.length}` };
    }
    r.writeHead(status, { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes' });
    if (q.method === 'HEAD') return void r.end();
    const dropAt = fault?.kind === 'drop' ? Math.min(fault.after, body.length) : undefined;
    const limit = dropAt ?? body.length;
    const step = this.throttle?.chunk ?? limit;
    const delay = this.throttle?.delayMs ?? 0;
    let off = 0;
    const pump = (): void => {
      if (r.destroyed) return;
      if (off >= limit) {
        if (dropAt !== undefined) r.socket?.destroy();
        else r.end();
        return;
      }
      const n = Math.min(step, limit - off);
      const chunk = body.subarray(off, off + n);
      off += n;
      // Next chunk once this one is handed to the kernel, so a drop happens after exactly `after` bytes.
      r.write(chunk, () => {
        this.onSent?.(urlPath, off);
        if (delay > 0) setTimeout(pump, delay);
        else setImmediate(pump);
      });
    };
    pump();
  }
}

function end(r: http.ServerResponse, status: number, headers: Record<string, string>): void {
  r.writeHead(status, { ...headers, 'content-length': '0' });
  r.end();
}

/** The files of a fixture model directory that a Hub repository would hold. */
export const MODEL_FILES = ['config.json', 'model.safetensors', 'pytorch_model.bin', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt'];
