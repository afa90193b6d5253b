/**
 * The Hub's file protocol: `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` for the metadata
 * (X-Repo-Commit, X-Linked-Etag or ETag, X-Linked-Size or Content-Length, and a Location when
 * the file lives on a CDN), then a GET of that location, with Range to resume. Redirects on the
 * Hub's own origin (a renamed repository) are followed; a redirect to another origin is where
 * the bytes are, and the token is not sent there. Network failures, 429 and 5xx are retried
 * with exponential backoff, then reported as ERR_NETWORK.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { ElectraError } from '../errors';
import type { HubSettings } from './settings';

/** What a HEAD told us about one file of one revision. */
export interface FileMeta {
  commit: string;
  /** Normalised etag: the blob's name in the cache; for LFS files the sha256 of the contents. */
  etag: string;
  size: number | undefined;
  /** Where to GET the bytes (the resolve URL, or the CDN it redirects to). */
  location: string;
}

/** An answer that is not a success, kept for mapping to an ElectraError with context. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly headers: http.IncomingHttpHeaders,
    readonly url: string,
  ) {
    super(`HTTP ${status} for ${url}`);
  }
}

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);

/** Whether a failure may go away on a retry (network trouble, 408, 429, 5xx). */
export function isTransient(e: unknown): boolean {
  if (e instanceof HttpStatusError) return e.status === 408 || e.status === 429 || e.status >= 500;
  if (e instanceof ElectraError) return false;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (typeof code === 'string' && NET_CODES.has(code)) || /socket hang up|aborted|terminated|premature/i.test(String((e as Error)?.message));
}

/** Delay before attempt `n` (1-based retries): base * 2^(n-1), at most 8 s. */
export function backoffMs(base: number, n: number): number {
  return Math.min(8000, base * 2 ** (n - 1));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One request; resolves with the response (body unread) whatever its status. */
export function send(url: string, method: 'HEAD' | 'GET', headers: Record<string, string>, timeoutMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch (e) {
      reject(new ElectraError('ERR_INPUT', `not a URL: ${url}`, { cause: e }));
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      reject(new ElectraError('ERR_NETWORK', `refusing to fetch ${u.protocol}// URL ${url} (a redirect out of http and https)`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method, headers: { 'user-agent': 'electra-node', ...headers }, agent: false }, resolve);
    // Socket inactivity, during the headers and the body alike.
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no data from ${u.host} for ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/** The origin (scheme, host, port) of a URL. */
export function origin(url: string): string {
  return new URL(url).origin;
}

/** `W/"abc"` and `"abc"` -> `abc`, as huggingface_hub's _normalize_etag. */
export function normalizeEtag(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  return s.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function header(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** `{endpoint}/{repo}/resolve/{revision}/{file}`, quoted as hf_hub_url quotes it. */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

export function authHeaders(s: HubSettings, url: string): Record<string, string> {
  return s.token && origin(url) === origin(s.endpoint) ? { authorization: `Bearer ${s.token}` } : {};
}

/** Runs `attempt` until it succeeds, a non-transient failure, or `s.retries` attempts. */
export async function withRetries<T>(s: HubSettings, what: string, attempt: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let n = 1; n <= s.retries; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isTransient(e)) throw e;
      last = e;
      if (n < s.retries) {
        const ms = backoffMs(s.retryDelayMs, n);
        s.log(`${what}: ${describe(e)}; retrying in ${(ms / 1000).toFixed(1)} s (${n}/${s.retries - 1})`);
        await sleep(ms);
      }
    }
  }
  throw new ElectraError('ERR_NETWORK', `${what}: ${describe(last)} (gave up after ${s.retries} attempts)`, { cause: last });
}

export function describe(e: unknown): string {
  if (e instanceof HttpStatusError) return `the server answered ${e.status}`;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const msg = (e as Error | undefined)?.message ?? String(e);
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

/**
 * HEAD of one file. Follows redirects that stay on the Hub's origin (a renamed repository) and
 * stops at one that leaves it (the CDN holding an LFS file). Throws HttpStatusError for a non-2xx
 * answer other than such a redirect, and network errors as they come (the caller retries).
 */
export async function headFile(s: HubSettings, url: string): Promise<FileMeta> {
  let cur = url;
  for (let hops = 0; hops < 10; hops++) {
    const res = await send(cur, 'HEAD', { ...authHeaders(s, cur), 'accept-encoding': 'identity' }, s.timeoutMs);
    res.resume();
    const status = res.statusCode ?? 0;
    const loc = header(res.headers, 'location');
    if (status >= 300 && status < 400 && loc) {
      const target = new URL(loc, cur).toString();
      if (origin(target) === origin(cur)) {
        cur = target;
        continue;
      }
      return metaFrom(res.headers, target, cur, true);
    }
    if (status < 200 || status >= 300) throw new HttpStatusError(status, res.headers, cur);
    return metaFrom(res.headers, cur, cur, false);
  }
  throw new ElectraError('ERR_NETWORK', `more than 10 redirects resolving ${url}`);
}

function metaFrom(h: http.IncomingHttpHeaders, location: string, url: string, redirected: boolean): FileMeta {
  const commit = header(h, 'x-repo-commit');
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) {
    throw new ElectraError('ERR_NETWORK', `${url} answered without an X-Repo-Commit header: is HF_ENDPOINT a Hugging Face Hub (or a mirror of one)?`);
  }
  const etag = normalizeEtag(header(h, 'x-linked-etag') ?? header(h, 'etag'));
  if (!etag || !/^[A-Za-z0-9._-]{1,128}$/.test(etag)) throw new ElectraError('ERR_NETWORK', `${url} answered without a usable ETag (${JSON.stringify(etag)})`);
  const sizeText = header(h, 'x-linked-size') ?? (redirected ? undefined : header(h, 'content-length'));
  const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
  return { commit, etag, size, location };
}

/** The Hub's `X-Error-Code` of a failed answer. */
export function errorCode(e: HttpStatusError): string | undefined {
  return header(e.headers, 'x-error-code');
}

/** The commit a 404 for a missing file names (to record it in `.no_exist`). */
export function commitOf(e: HttpStatusError): string | undefined {
  const c = header(e.headers, 'x-repo-commit');
  return c && /^[0-9a-f]{40}$/.test(c) ? c : undefined;
}
