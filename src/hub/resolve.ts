/**
 * A model name to a directory: a local directory passes through; a Hub id `org/name[@rev][/sub]`
 * becomes the snapshot directory of the shared Hugging Face cache, holding only what electra-node
 * reads: config.json (checked to be an ELECTRA config before any weights are fetched), the
 * weights (model.safetensors, else pytorch_model.bin, sharded ones with their index) and the
 * tokenizer files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readConfigFile } from '../config';
import { ElectraError } from '../errors';
import { fetchFile } from './download';
import { checkRevision, checkSubfolder, formatHubRef, looksLikeHubId, parseHubId, type HubRef } from './id';
import { hubSettings, type HubOptions, type HubSettings } from './settings';

/** What to fetch: a whole model (config, weights, tokenizer) or only the tokenizer files. */
export type HubFiles = 'model' | 'tokenizer';

export interface ResolveOptions extends HubOptions {
  /** `model` (default) or `tokenizer`. */
  files?: HubFiles;
}

/** A resolved snapshot. */
export interface Snapshot {
  /** The id as given back, `org/name[@rev][/sub]`. */
  id: string;
  repo: string;
  revision: string;
  commit: string;
  /** The directory to load: `<cache>/models--org--name/snapshots/<commit>[/sub]`. */
  path: string;
  /** Files present, relative to `path`. */
  files: string[];
  /** Bytes downloaded by this call (0 when all came from the cache). */
  downloaded: number;
}

const WEIGHTS = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;
const SHARD_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/;
const MAX_SHARDS = 10_000;

class Fetcher {
  commit: string | undefined;
  readonly files: string[] = [];
  downloaded = 0;
  constructor(
    readonly s: HubSettings,
    readonly ref: HubRef,
    readonly display: string,
    readonly command: string,
  ) {}

  private offlineError(name: string): ElectraError {
    const where = this.commit
      ? `${name} of ${this.display} (commit ${this.commit.slice(0, 12)}) is not in the cache ${this.s.cacheDir}`
      : `${this.display} is not in the cache ${this.s.cacheDir} (no snapshot for revision ${JSON.stringify(this.ref.revision)}, so ${name} is missing)`;
    return new ElectraError('ERR_OFFLINE', `${where}, and offline mode is on (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE or offline: true): run \`${this.command}\` while online`);
  }

  /** true: fetched; false: not in the revision; undefined: offline and not cached. */
  async get(name: string, required: boolean): Promise<boolean | undefined> {
    const file = this.ref.subfolder ? `${this.ref.subfolder}/${name}` : name;
    const r = await fetchFile(this.s, { repo: this.ref.repo, revision: this.commit ?? this.ref.revision, file, fetchCommand: this.command });
    if (r.kind === 'file') {
      this.commit = r.commit;
      this.files.push(name);
      this.downloaded += r.downloaded;
      return true;
    }
    this.commit ??= r.commit;
    if (required) throw r.known ? new ElectraError('ERR_NOT_FOUND', `${this.display} has no ${name}${this.commit ? ` (commit ${this.commit.slice(0, 12)})` : ''}`) : this.offlineError(name);
    return r.known ? false : undefined;
  }

  dir(): string {
    const base = path.join(this.s.cacheDir, `models--${this.ref.repo.replace('/', '--')}`, 'snapshots', this.commit!);
    return this.ref.subfolder ? path.join(base, ...this.ref.subfolder.split('/')) : base;
  }

  async tokenizer(required: boolean): Promise<void> {
    const tj = await this.get('tokenizer.json', false);
    await this.get('tokenizer_config.json', false);
    await this.get('special_tokens_map.json', false);
    // vocab.txt only when there is no tokenizer.json (our loader prefers the latter).
    const vt = tj === true ? false : await this.get('vocab.txt', false);
    if (required && tj !== true && vt !== true) {
      if (tj === undefined || vt === undefined) throw this.offlineError('tokenizer.json (or vocab.txt)');
      throw new ElectraError('ERR_NOT_FOUND', `${this.display} has neither tokenizer.json nor vocab.txt`);
    }
  }

  async weights(): Promise<void> {
    let unknown: string | undefined;
    for (const name of WEIGHTS) {
      const got = await this.get(name, false);
      if (got === undefined) unknown ??= name;
      if (got !== true) continue;
      if (name.endsWith('.index.json')) await this.shards(name);
      return;
    }
    if (unknown) throw this.offlineError('model.safetensors (or pytorch_model.bin)');
    throw new ElectraError('ERR_NOT_FOUND', `${this.display} has no model.safetensors or pytorch_model.bin (nor a sharded index of either)`);
  }

  private async shards(index: string): Promise<void> {
    const file = path.join(this.dir(), index);
    let map: unknown;
    try {
      map = (JSON.parse(fs.readFileSync(file, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new ElectraError('ERR_CHECKPOINT', `${this.display}: ${index} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new ElectraError('ERR_CHECKPOINT', `${this.display}: ${index} has no weight_map object`);
    const names = [...new Set(Object.values(map as Record<string, unknown>))];
    if (names.length > MAX_SHARDS) throw new ElectraError('ERR_CHECKPOINT', `${this.display}: ${index} names ${names.length} shards, more than ${MAX_SHARDS}`);
    for (const n of names) {
      if (typeof n !== 'string' || !SHARD_RE.test(n) || n.includes('..')) throw new ElectraError('ERR_CHECKPOINT', `${this.display}: ${index} names shard ${JSON.stringify(n)}, not a plain file name`);
    }
    for (const n of names as string[]) await this.get(n, true);
  }
}

/** The reference of `id` with the revision and subfolder options applied. */
function refOf(id: string, opts: ResolveOptions): HubRef {
  const ref = parseHubId(id);
  if (opts.revision !== undefined) {
    const rev = checkRevision(opts.revision, 'revision');
    if (id.includes('@') && rev !== ref.revision) throw new ElectraError('ERR_INPUT', `${id} names revision ${ref.revision}, the revision option says ${rev}: give one`);
    ref.revision = rev;
  }
  if (opts.subfolder !== undefined) {
    const sub = checkSubfolder(opts.subfolder, 'subfolder');
    ref.subfolder = ref.subfolder ? `${ref.subfolder}/${sub}` : sub;
  }
  return ref;
}

/**
 * Fetches a model (or its tokenizer) from the Hub into the shared cache, or finds it there, and
 * returns its snapshot. ERR_NOT_FOUND, ERR_AUTH, ERR_OFFLINE, ERR_NETWORK, ERR_IO, and ERR_CONFIG
 * for a config.json that is not ELECTRA's (checked before the weights are fetched).
 */
export async function downloadModel(id: string, opts: ResolveOptions = {}): Promise<Snapshot> {
  const ref = refOf(id, opts);
  const s = hubSettings(opts);
  const display = formatHubRef(ref);
  const kind = opts.files ?? 'model';
  if (kind !== 'model' && kind !== 'tokenizer') throw new ElectraError('ERR_INPUT', `files must be "model" or "tokenizer", got ${JSON.stringify(kind)}`);
  const f = new Fetcher(s, ref, display, `electra download ${display}${kind === 'tokenizer' ? ' --tokenizer-only' : ''}`);
  if (kind === 'tokenizer') {
    await f.tokenizer(true);
  } else {
    await f.get('config.json', true);
    const cfg = path.join(f.dir(), 'config.json');
    try {
      readConfigFile(cfg);
    } catch (e) {
      if (e instanceof ElectraError) throw new ElectraError(e.code, `${display}: ${e.message}`, { cause: e });
      throw e;
    }
    await f.tokenizer(false);
    await f.weights();
  }
  return { id: display, repo: ref.repo, revision: ref.revision, commit: f.commit!, path: f.dir(), files: f.files, downloaded: f.downloaded };
}

/**
 * A model directory from a local path or a Hub id. A path that exists (or does not look like
 * `org/name`) comes back unchanged; a Hub id comes back as the snapshot directory of the shared
 * cache, fetched if needed (see {@link downloadModel}). `undefined` passes through.
 */
export async function resolveModel(idOrDir: string, opts?: ResolveOptions): Promise<string>;
export async function resolveModel(idOrDir: string | undefined, opts?: ResolveOptions): Promise<string | undefined>;
export async function resolveModel(idOrDir: string | undefined, opts: ResolveOptions = {}): Promise<string | undefined> {
  if (idOrDir === undefined || typeof idOrDir !== 'string') return idOrDir;
  if (fs.existsSync(idOrDir) || !looksLikeHubId(idOrDir)) return idOrDir;
  try {
    return (await downloadModel(idOrDir, opts)).path;
  } catch (e) {
    // `runs/x` reads as a Hub id too: say that no such directory exists either.
    if (e instanceof ElectraError && ['ERR_NOT_FOUND', 'ERR_AUTH', 'ERR_OFFLINE', 'ERR_NETWORK'].includes(e.code) && !idOrDir.includes('@')) {
      throw new ElectraError(e.code, `${e.message} (there is no local directory ${idOrDir} either)`, { cause: e });
    }
    throw e;
  }
}
