/**
 * Where the Hub and its cache are: explicit options first, then the environment variables that
 * Python's huggingface_hub reads (same names, same precedence, same truthiness), so that both
 * sides share one cache and one token. The environment is read here and nowhere else.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../errors';

/** Progress of one file download, for a custom progress callback. */
export interface DownloadProgress {
  repo: string;
  file: string;
  /** Bytes on disk so far (a resumed download starts above 0). */
  bytes: number;
  /** Expected size, when the Hub said. */
  total: number | undefined;
  done: boolean;
}

/** Options of Hub resolution and download; every field overrides its environment variable. */
export interface HubOptions {
  /** Branch, tag or commit (overrides an `@revision` in the id only when the id has none). */
  revision?: string;
  /** Path inside the repository (as Python's `subfolder=`). */
  subfolder?: string;
  /** Cache directory (HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub address (HF_ENDPOINT, default https://huggingface.co). */
  endpoint?: string;
  /** Access token (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the token file under HF_HOME); `false` sends none. */
  token?: string | false;
  /** No network at all: use the cache or fail with ERR_OFFLINE (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE). */
  offline?: boolean;
  /** Progress bar on stderr (default: when stderr is a TTY and HF_HUB_DISABLE_PROGRESS_BARS is unset), or a callback. */
  progress?: boolean | ((p: DownloadProgress) => void);
  /** Re-hash cached LFS blobs against their sha256 name and fetch again the ones that differ (default false). */
  verify?: boolean;
  /** Attempts per request before ERR_NETWORK (default 5). */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt up to 8 s (default 500). */
  retryDelayMs?: number;
  /** Seconds without any data before a request counts as failed (HF_HUB_DOWNLOAD_TIMEOUT, default 10). */
  timeoutSeconds?: number;
  /** Notes (a fall-back to the cache, a corrupted blob fetched again); default: none. */
  onLog?: (message: string) => void;
}

/** Resolved settings: every field known. */
export interface HubSettings {
  cacheDir: string;
  endpoint: string;
  token: string | undefined;
  /** Where the token came from, for error messages. */
  tokenSource: string | undefined;
  offline: boolean;
  progress: false | ((p: DownloadProgress) => void) | 'tty';
  verify: boolean;
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
  log: (message: string) => void;
  /** HF_HOME, for messages about the token file. */
  hfHome: string;
  tokenPath: string;
}

/** huggingface_hub's `_is_true`. */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.toUpperCase());
}

/** `~` and `$VAR` / `${VAR}` expansion, as Python's expanduser + expandvars. */
function expand(p: string, env: NodeJS.ProcessEnv): string {
  let s = p.replace(/\$(\w+)|\$\{(\w+)\}/g, (all, a: string | undefined, b: string | undefined) => env[(a ?? b)!] ?? all);
  if (s === '~' || s.startsWith('~/')) s = path.join(env.HOME || os.homedir(), s.slice(1));
  return s;
}

/** HF_HOME, HF_HUB_CACHE and the token path from an environment. */
export function hubPaths(env: NodeJS.ProcessEnv = process.env): { hfHome: string; cacheDir: string; tokenPath: string } {
  const home = env.HOME || os.homedir();
  const hfHome = expand(env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'huggingface'), env);
  const legacy = env.HUGGINGFACE_HUB_CACHE || path.join(hfHome, 'hub');
  const cacheDir = expand(env.HF_HUB_CACHE || legacy, env);
  const tokenPath = expand(env.HF_TOKEN_PATH || path.join(hfHome, 'token'), env);
  return { hfHome, cacheDir, tokenPath };
}

function readToken(file: string): string | undefined {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

const num = (v: string | undefined): number | undefined => (v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Number(v) : undefined);

/** Options over environment: the one place the Hub environment variables are read. */
export function hubSettings(opts: HubOptions = {}, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const { hfHome, cacheDir, tokenPath } = hubPaths(env);
  let token: string | undefined;
  let tokenSource: string | undefined;
  if (opts.token === false) token = undefined;
  else if (typeof opts.token === 'string' && opts.token !== '') [token, tokenSource] = [opts.token, 'the token option'];
  else if (env.HF_TOKEN?.trim()) [token, tokenSource] = [env.HF_TOKEN.trim(), 'HF_TOKEN'];
  else if (env.HUGGING_FACE_HUB_TOKEN?.trim()) [token, tokenSource] = [env.HUGGING_FACE_HUB_TOKEN.trim(), 'HUGGING_FACE_HUB_TOKEN'];
  else if ((token = readToken(tokenPath))) tokenSource = tokenPath;
  const endpoint = (opts.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(endpoint)) throw new ElectraError('ERR_INPUT', `the Hub endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  const disableBars = isTrue(env.HF_HUB_DISABLE_PROGRESS_BARS);
  const progress = typeof opts.progress === 'function' ? opts.progress : opts.progress === false ? false : opts.progress === true ? 'tty' : disableBars ? false : 'tty';
  const retries = opts.retries ?? 5;
  if (!Number.isInteger(retries) || retries < 1) throw new ElectraError('ERR_INPUT', `retries must be an integer >= 1, got ${retries}`);
  return {
    cacheDir: path.resolve(opts.cacheDir !== undefined ? expand(opts.cacheDir, env) : cacheDir),
    endpoint,
    token,
    tokenSource,
    // Python reads `HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE`: a set HF_HUB_OFFLINE=0 wins over TRANSFORMERS_OFFLINE=1.
    offline: opts.offline ?? isTrue(env.HF_HUB_OFFLINE || env.TRANSFORMERS_OFFLINE),
    progress,
    verify: opts.verify ?? false,
    retries,
    retryDelayMs: opts.retryDelayMs ?? 500,
    timeoutMs: 1000 * (opts.timeoutSeconds ?? num(env.HF_HUB_DOWNLOAD_TIMEOUT) ?? 10),
    log: opts.onLog ?? (() => {}),
    hfHome,
    tokenPath,
  };
}
