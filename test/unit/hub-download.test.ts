/* Hub ids through the shared cache, against the mock Hub in hub-mock.ts (no addon, no network). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../../src/errors';
import { removeFromCache, scanCache } from '../../src/hub/cache';
import { progressFor } from '../../src/hub/progress';
import { downloadModel, resolveModel, type ResolveOptions } from '../../src/hub/resolve';
import { hubSettings, type DownloadProgress } from '../../src/hub/settings';
import { FIXTURES, MODEL_FILES, MockHub, commitId, gitBlobSha1, repoFromDir, sha256, type MockRepo } from './hub-mock';

// The module object itself (not an import namespace) so that jest can spy on its functions.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeFs = require('node:fs') as typeof fs;

const DISC = path.join(FIXTURES, 'disc-proj');
const GEN = path.join(FIXTURES, 'gen');
const read = (f: string) => fs.readFileSync(f);

let hub: MockHub;
let cache: string;
let tmpRoot: string;
let logs: string[];

function opts(extra: ResolveOptions = {}): ResolveOptions {
  return { cacheDir: cache, endpoint: hub.endpoint, token: false, offline: false, progress: false, retryDelayMs: 5, retries: 3, onLog: (m) => logs.push(m), ...extra };
}

async function failure(p: Promise<unknown>): Promise<ElectraError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ElectraError);
    return e as ElectraError;
  }
  throw new Error('expected a failure');
}

/** Every file under snapshots/ resolves to a regular file (no dangling link, no partial file). */
function snapshotIntact(repoDir: string): void {
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  const snaps = path.join(repoDir, 'snapshots');
  if (!fs.existsSync(snaps)) return;
  for (const f of walk(snaps)) {
    expect({ f, regular: fs.statSync(f).isFile() }).toEqual({ f, regular: true });
    expect(f.endsWith('.incomplete') || f.endsWith('.tmp')).toBe(false);
  }
}

beforeAll(async () => {
  hub = await new MockHub().start();
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-hub-'));
  hub.add('tiny/disc', repoFromDir(DISC, MODEL_FILES, 'disc', { 'v1.0': '' }));
  hub.repos.get('tiny/disc')!.refs['refs/pr/1'] = commitId('disc');
  hub.add('tiny/gen-bin', repoFromDir(GEN, ['config.json', 'pytorch_model.bin', 'tokenizer_config.json', 'vocab.txt'], 'gen-bin'));
  const two = commitId('two');
  const twoFiles: Record<string, Buffer> = {};
  for (const f of MODEL_FILES) {
    twoFiles[`discriminator/${f}`] = read(path.join(DISC, f));
    twoFiles[`generator/${f}`] = read(path.join(GEN, f));
  }
  hub.add('tiny/two', { refs: { main: two }, commits: { [two]: twoFiles } });
  const bert = commitId('bert');
  hub.add('other/bert', { refs: { main: bert }, commits: { [bert]: { 'config.json': Buffer.from('{"model_type": "bert", "hidden_size": 32}'), 'model.safetensors': Buffer.alloc(4096, 1) } } });
  const gated: MockRepo = repoFromDir(DISC, MODEL_FILES, 'gated');
  gated.gatedToken = 'hf_sesame';
  hub.add('tiny/gated', gated);
  hub.renamed.set('old/disc', 'tiny/disc');
  const sh = commitId('sharded');
  const s1 = Buffer.alloc(3000, 7);
  const s2 = Buffer.alloc(2000, 9);
  const index = { metadata: { total_size: 5000 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } };
  hub.add('tiny/sharded', {
    refs: { main: sh },
    commits: { [sh]: { 'config.json': read(path.join(DISC, 'config.json')), 'model.safetensors.index.json': Buffer.from(JSON.stringify(index)), 'model-00001-of-00002.safetensors': s1, 'model-00002-of-00002.safetensors': s2, 'vocab.txt': read(path.join(DISC, 'vocab.txt')) } },
  });
});

afterAll(async () => {
  await hub.stop();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

beforeEach(() => {
  cache = fs.mkdtempSync(path.join(tmpRoot, 'cache-'));
  hub.log.length = 0;
  hub.faults.clear();
  hub.throttle = undefined;
  logs = [];
});

describe('the cache layout shared with huggingface_hub', () => {
  test('blobs by etag, snapshot symlinks, refs/main, only the files electra-node reads', async () => {
    const snap = await downloadModel('tiny/disc', opts());
    const commit = commitId('disc');
    const repoDir = path.join(cache, 'models--tiny--disc');
    expect(snap.commit).toBe(commit);
    expect(snap.path).toBe(path.join(repoDir, 'snapshots', commit));
    expect(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    expect(snap.files.sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const f of snap.files) {
      const p = path.join(snap.path, f);
      expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
      const etag = /\.safetensors$/.test(f) ? sha256(read(path.join(DISC, f))) : gitBlobSha1(read(path.join(DISC, f)));
      expect(fs.readlinkSync(p)).toBe(`../../blobs/${etag}`);
      expect(read(p).equals(read(path.join(DISC, f)))).toBe(true);
    }
    // special_tokens_map.json is not in the repo: recorded, as Python records it.
    expect(fs.existsSync(path.join(repoDir, '.no_exist', commit, 'special_tokens_map.json'))).toBe(true);
    // Neither the .bin (safetensors exist) nor vocab.txt (tokenizer.json exists) was fetched.
    expect(hub.requests().some((r) => /pytorch_model\.bin|vocab\.txt/.test(r.path))).toBe(false);
    expect(fs.readdirSync(path.join(repoDir, 'blobs')).some((b) => b.endsWith('.incomplete'))).toBe(false);
    snapshotIntact(repoDir);
  });

  test('a cached file is never downloaded again; a commit-pinned id makes no request at all', async () => {
    await downloadModel('tiny/disc', opts());
    hub.log.length = 0;
    const again = await downloadModel('tiny/disc', opts());
    expect(again.downloaded).toBe(0);
    // One HEAD (config.json at main, to learn the commit); everything else pinned to that commit.
    expect(hub.requests().map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /tiny/disc/resolve/main/config.json']);
    hub.log.length = 0;
    const pinned = await downloadModel(`tiny/disc@${again.commit}`, opts());
    expect(pinned.path).toBe(again.path);
    expect(hub.requests()).toEqual([]);
  });

  test('offline: the cached snapshot with no request; missing files name the command that fetches them', async () => {
    const online = await downloadModel('tiny/disc', opts());
    hub.log.length = 0;
    const off = await downloadModel('tiny/disc', opts({ offline: true }));
    expect(off.path).toBe(online.path);
    expect(hub.requests()).toEqual([]);
    const e = await failure(downloadModel('tiny/gen-bin', opts({ offline: true })));
    expect(e.code).toBe('ERR_OFFLINE');
    expect(e.message).toMatch(/config\.json/);
    expect(e.message).toContain('electra download tiny/gen-bin');
    // Config cached but not the weights.
    fs.rmSync(path.join(online.path, 'model.safetensors'));
    const w = await failure(downloadModel('tiny/disc', opts({ offline: true })));
    expect(w.code).toBe('ERR_OFFLINE');
    expect(w.message).toMatch(/model\.safetensors \(or pytorch_model\.bin\)/);
    expect(hub.requests()).toEqual([]);
    const t = await failure(resolveModel('tiny/none', opts({ offline: true })));
    expect(t.code).toBe('ERR_OFFLINE');
    expect(t.message).toContain('no local directory tiny/none');
  });

  test('revisions: a tag, a commit and refs/pr/1 each get their ref', async () => {
    const commit = commitId('disc');
    const tag = await downloadModel('tiny/disc@v1.0', opts());
    expect(tag.commit).toBe(commit);
    expect(fs.readFileSync(path.join(cache, 'models--tiny--disc', 'refs', 'v1.0'), 'utf8')).toBe(commit);
    const pr = await downloadModel('tiny/disc@refs%2Fpr%2F1', opts());
    expect(pr.path).toBe(tag.path);
    expect(fs.readFileSync(path.join(cache, 'models--tiny--disc', 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(commit);
    expect(hub.requests().some((r) => r.path.includes('/resolve/refs%2Fpr%2F1/'))).toBe(true);
    const byOption = await downloadModel('tiny/disc', opts({ revision: 'v1.0' }));
    expect(byOption.path).toBe(tag.path);
    const bad = await failure(downloadModel('tiny/disc@nope', opts()));
    expect(bad.code).toBe('ERR_NOT_FOUND');
    expect(bad.message).toContain('"nope"');
  });

  test('subfolders, as Python subfolder= (in the id or as an option)', async () => {
    const g = await downloadModel('tiny/two/generator', opts());
    expect(g.path.endsWith(path.join(commitId('two'), 'generator'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(g.path, 'config.json'), 'utf8')).hidden_size).toBe(24);
    const d = await downloadModel('tiny/two', opts({ subfolder: 'discriminator' }));
    expect(fs.existsSync(path.join(d.path, 'model.safetensors'))).toBe(true);
    expect(hub.requests().every((r) => r.server === 'cdn' || /\/(generator|discriminator)\//.test(r.path))).toBe(true);
  });

  test('a renamed repository: the relative redirect is followed; the cache keeps the name asked for', async () => {
    const s = await downloadModel('old/disc', opts());
    expect(s.path.startsWith(path.join(cache, 'models--old--disc', 'snapshots'))).toBe(true);
    expect(hub.requests('hub').some((r) => r.path.startsWith('/tiny/disc/resolve/'))).toBe(true);
  });

  test('LFS files come from the CDN (another origin) without the token; the Hub gets the token', async () => {
    await downloadModel('tiny/gated', opts({ token: 'hf_sesame' }));
    const cdn = hub.requests('cdn');
    expect(cdn.length).toBe(1);
    expect(cdn[0]!.auth).toBeUndefined();
    expect(hub.requests('hub').every((r) => r.auth === 'Bearer hf_sesame')).toBe(true);
  });
});

describe('downloads', () => {
  test('a partial <blob>.incomplete is resumed with a Range request', async () => {
    const body = read(path.join(DISC, 'model.safetensors'));
    const blobs = path.join(cache, 'models--tiny--disc', 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    fs.writeFileSync(path.join(blobs, `${sha256(body)}.incomplete`), body.subarray(0, 30000));
    const s = await downloadModel('tiny/disc', opts());
    const gets = hub.requests('cdn').filter((r) => r.method === 'GET');
    expect(gets.map((g) => g.range)).toEqual(['bytes=30000-']);
    expect(read(path.join(s.path, 'model.safetensors')).equals(body)).toBe(true);
    expect(s.downloaded).toBe(body.length - 30000 + read(path.join(DISC, 'config.json')).length + read(path.join(DISC, 'tokenizer.json')).length + read(path.join(DISC, 'tokenizer_config.json')).length);
  });

  test('a connection dropped mid-file is resumed in the same call', async () => {
    const body = read(path.join(DISC, 'model.safetensors'));
    hub.fault(hub.cdnPath(body), { kind: 'drop', after: 10000 }, { kind: 'drop', after: 10000 });
    const s = await downloadModel('tiny/disc', opts());
    expect(read(path.join(s.path, 'model.safetensors')).equals(body)).toBe(true);
    const ranges = hub.requests('cdn').map((r) => r.range);
    expect(ranges).toEqual([undefined, 'bytes=10000-', 'bytes=20000-']);
    expect(logs.some((l) => /resuming in/.test(l))).toBe(true);
  });

  test('a server that ignores Range: the file starts over and is still right', async () => {
    const body = read(path.join(DISC, 'model.safetensors'));
    hub.fault(hub.cdnPath(body), { kind: 'drop', after: 5000 }, { kind: 'ignore-range' });
    const s = await downloadModel('tiny/disc', opts());
    expect(read(path.join(s.path, 'model.safetensors')).equals(body)).toBe(true);
  });

  test('bytes with the wrong sha256 are refused and fetched again', async () => {
    const body = read(path.join(DISC, 'model.safetensors'));
    hub.fault(hub.cdnPath(body), { kind: 'corrupt' });
    const s = await downloadModel('tiny/disc', opts());
    expect(read(path.join(s.path, 'model.safetensors')).equals(body)).toBe(true);
    expect(hub.requests('cdn').filter((r) => r.method === 'GET').length).toBe(2);
    expect(logs.some((l) => /sha256 .* does not match .*refused/.test(l))).toBe(true);
    // Wrong twice: refused for good, nothing placed in the snapshot.
    fs.rmSync(cache, { recursive: true });
    hub.fault(hub.cdnPath(body), { kind: 'corrupt' }, { kind: 'corrupt' });
    const e = await failure(downloadModel('tiny/disc', opts()));
    expect(e.code).toBe('ERR_NETWORK');
    expect(e.message).toMatch(/sha256/);
    expect(fs.existsSync(path.join(cache, 'models--tiny--disc', 'snapshots', commitId('disc'), 'model.safetensors'))).toBe(false);
    snapshotIntact(path.join(cache, 'models--tiny--disc'));
  });

  test('a server that sends more bytes than announced is cut off', async () => {
    const body = read(path.join(DISC, 'model.safetensors'));
    hub.fault(hub.cdnPath(body), { kind: 'oversize', extra: 100000 });
    const e = await failure(downloadModel('tiny/disc', opts()));
    expect(e.code).toBe('ERR_NETWORK');
    expect(e.message).toMatch(/sent more than the \d+ bytes the Hub announced/);
    expect(fs.readdirSync(path.join(cache, 'models--tiny--disc', 'blobs')).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
  });

  test('with verify, a corrupted cached blob is refused and fetched again (a cached file is trusted otherwise, as in Python)', async () => {
    const body = read(path.join(DISC, 'model.safetensors'));
    const s = await downloadModel('tiny/disc', opts());
    const blob = path.join(cache, 'models--tiny--disc', 'blobs', sha256(body));
    const bad = Buffer.from(body);
    bad[100] = bad[100]! ^ 1;
    fs.writeFileSync(blob, bad); // same size: only a hash finds it
    hub.log.length = 0;
    await downloadModel('tiny/disc', opts());
    expect(hub.requests('cdn')).toEqual([]);
    await downloadModel('tiny/disc', opts({ verify: true }));
    expect(hub.requests('cdn').length).toBe(1);
    expect(read(path.join(s.path, 'model.safetensors')).equals(body)).toBe(true);
    fs.truncateSync(blob, 1000);
    hub.log.length = 0;
    logs.length = 0;
    await downloadModel('tiny/disc', opts({ verify: true }));
    expect(hub.requests('cdn').length).toBe(1);
    expect(logs.filter((l) => /does not match the Hub's size or sha256; refused/.test(l)).length).toBe(2);
    expect(read(path.join(s.path, 'model.safetensors')).equals(body)).toBe(true);
  });

  test('two downloads of one model at once in one process: one transfer, both succeed', async () => {
    hub.throttle = { chunk: 8192, delayMs: 2 };
    const [a, b] = await Promise.all([downloadModel('tiny/disc', opts()), downloadModel('tiny/disc', opts())]);
    expect(a.path).toBe(b.path);
    expect(hub.requests('cdn').filter((r) => r.method === 'GET').length).toBe(1);
    expect(read(path.join(a.path, 'model.safetensors')).equals(read(path.join(DISC, 'model.safetensors')))).toBe(true);
  });

  test('a full disk (injected ENOSPC on the blob write) gives ERR_IO and no broken snapshot', async () => {
    const real = nodeFs.writeSync;
    const spy = jest.spyOn(nodeFs, 'writeSync').mockImplementation(((fd: number, buf: unknown, ...rest: unknown[]) => {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.endsWith('.incomplete') && (buf as Buffer).length > 1000 && /[0-9a-f]{64}\.incomplete$/.test(target)) {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return (real as (...a: unknown[]) => number)(fd, buf, ...rest);
    }) as typeof nodeFs.writeSync);
    try {
      const e = await failure(downloadModel('tiny/disc', opts()));
      expect(e.code).toBe('ERR_IO');
      expect(e.message).toMatch(/disk is full/);
    } finally {
      spy.mockRestore();
    }
    const repoDir = path.join(cache, 'models--tiny--disc');
    expect(fs.existsSync(path.join(repoDir, 'snapshots', commitId('disc'), 'model.safetensors'))).toBe(false);
    expect(fs.readdirSync(path.join(repoDir, 'blobs')).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    snapshotIntact(repoDir);
    // Space back: the same call completes.
    const s = await downloadModel('tiny/disc', opts());
    expect(fs.existsSync(path.join(s.path, 'model.safetensors'))).toBe(true);
  });

  test('where symlinks fail the snapshot gets copies', async () => {
    const spy = jest.spyOn(nodeFs, 'symlinkSync').mockImplementation(() => {
      throw Object.assign(new Error('EPERM: operation not permitted, symlink'), { code: 'EPERM' });
    });
    try {
      const s = await downloadModel('tiny/disc', opts());
      const p = path.join(s.path, 'model.safetensors');
      expect(fs.lstatSync(p).isSymbolicLink()).toBe(false);
      expect(read(p).equals(read(path.join(DISC, 'model.safetensors')))).toBe(true);
      const listed = scanCache(cache)[0]!;
      expect(listed.size).toBeGreaterThan(2 * read(path.join(DISC, 'model.safetensors')).length - 1); // blob + copy
    } finally {
      spy.mockRestore();
    }
  });

  test('pytorch_model.bin when there are no safetensors; vocab.txt when there is no tokenizer.json', async () => {
    const s = await downloadModel('tiny/gen-bin', opts());
    expect(s.files.sort()).toEqual(['config.json', 'pytorch_model.bin', 'tokenizer_config.json', 'vocab.txt']);
    const noExist = path.join(cache, 'models--tiny--gen-bin', '.no_exist', s.commit);
    expect(fs.readdirSync(noExist).sort()).toEqual(['model.safetensors', 'model.safetensors.index.json', 'special_tokens_map.json', 'tokenizer.json']);
    // Known absences cost no request when pinned.
    hub.log.length = 0;
    await downloadModel(`tiny/gen-bin@${s.commit}`, opts());
    expect(hub.requests()).toEqual([]);
  });

  test('sharded weights: the index and each shard once', async () => {
    const s = await downloadModel('tiny/sharded', opts());
    expect(s.files.sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'vocab.txt']);
    expect(hub.requests('cdn').length).toBe(2);
  });

  test('a branch that moved: new snapshot and ref, unchanged blobs not fetched again', async () => {
    const repo = repoFromDir(DISC, MODEL_FILES, 'moving');
    hub.add('tiny/moving', repo);
    const a = await downloadModel('tiny/moving', opts());
    const b = commitId('moving-2');
    const cfg = JSON.parse(read(path.join(DISC, 'config.json')).toString()) as Record<string, unknown>;
    repo.commits[b] = { ...repo.commits[a.commit]!, 'config.json': Buffer.from(JSON.stringify({ ...cfg, layer_norm_eps: 1e-6 })) };
    repo.refs.main = b;
    hub.log.length = 0;
    const s = await downloadModel('tiny/moving', opts());
    expect(s.commit).toBe(b);
    expect(fs.readFileSync(path.join(cache, 'models--tiny--moving', 'refs', 'main'), 'utf8')).toBe(b);
    expect(fs.existsSync(a.path)).toBe(true);
    expect(hub.requests('cdn')).toEqual([]); // the weights blob is shared
    expect(fs.realpathSync(path.join(s.path, 'model.safetensors'))).toBe(fs.realpathSync(path.join(a.path, 'model.safetensors')));
  });
});

describe('progress', () => {
  test('a callback sees each file grow to its size; a TTY gets a bar that ends with a newline', async () => {
    const events: DownloadProgress[] = [];
    hub.throttle = { chunk: 8192, delayMs: 1 };
    await downloadModel('tiny/disc', opts({ progress: (p) => events.push(p) }));
    const weights = events.filter((e) => e.file === 'model.safetensors');
    const size = read(path.join(DISC, 'model.safetensors')).length;
    expect(weights.length).toBeGreaterThan(3);
    expect(weights.every((e, i) => i === 0 || e.bytes >= weights[i - 1]!.bytes)).toBe(true);
    expect(weights[weights.length - 1]).toEqual({ repo: 'tiny/disc', file: 'model.safetensors', bytes: size, total: size, done: true });
    let out = '';
    const tty = { isTTY: true, columns: 100, write: (s: string) => (out += s) } as unknown as NodeJS.WriteStream;
    const bar = progressFor(hubSettings({ progress: true }), tty)!;
    bar({ repo: 'r/m', file: 'model.safetensors', bytes: 0, total: 2e6, done: false });
    bar({ repo: 'r/m', file: 'model.safetensors', bytes: 2e6, total: 2e6, done: true });
    expect(out).toMatch(/model\.safetensors \[#+\] 100% 2\.0\/2\.0 MB .* MB\/s\x1b\[K\n$/);
    expect(progressFor(hubSettings({ progress: true }), { isTTY: false } as NodeJS.WriteStream)).toBeUndefined();
    expect(progressFor(hubSettings({}, { HOME: '/h', HF_HUB_DISABLE_PROGRESS_BARS: '1' }), tty)).toBeUndefined();
  });
});

describe('errors', () => {
  test('unknown repo: ERR_NOT_FOUND naming it', async () => {
    const e = await failure(downloadModel('nobody/nothing', opts()));
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toContain('nobody/nothing');
  });

  test('gated without a token: ERR_AUTH saying how to set one; a token from HF_HOME/token works', async () => {
    const e = await failure(downloadModel('tiny/gated', opts()));
    expect(e.code).toBe('ERR_AUTH');
    expect(e.message).toMatch(/HF_TOKEN/);
    expect(e.message).toMatch(/hf auth login/);
    const wrong = await failure(downloadModel('tiny/gated', opts({ token: 'hf_wrong' })));
    expect(wrong.code).toBe('ERR_AUTH');
    const home = fs.mkdtempSync(path.join(tmpRoot, 'hfhome-'));
    fs.writeFileSync(path.join(home, 'token'), 'hf_sesame\n');
    const saved = { HF_HOME: process.env.HF_HOME, HF_TOKEN: process.env.HF_TOKEN, HUGGING_FACE_HUB_TOKEN: process.env.HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH: process.env.HF_TOKEN_PATH };
    process.env.HF_HOME = home;
    for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH'] as const) delete process.env[k];
    try {
      const s = await downloadModel('tiny/gated', opts({ token: undefined }));
      expect(fs.existsSync(path.join(s.path, 'config.json'))).toBe(true);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('not an ELECTRA config: ERR_CONFIG before any weights are fetched', async () => {
    const e = await failure(downloadModel('other/bert', opts()));
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toMatch(/other\/bert: .*model_type is "bert"/);
    expect(hub.requests().some((r) => r.path.includes('safetensors'))).toBe(false);
  });

  test('the Hub unreachable: ERR_NETWORK after the retries', async () => {
    const dead = await new MockHub().start();
    const endpoint = dead.endpoint;
    await dead.stop();
    const t0 = Date.now();
    const e = await failure(downloadModel('tiny/disc', opts({ endpoint, retries: 3, retryDelayMs: 20 })));
    expect(e.code).toBe('ERR_NETWORK');
    expect(e.message).toMatch(/gave up after 3 attempts/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(20 + 40 - 5); // backed off 20 then 40 ms
  });

  test('503 twice then fine: retried with backoff', async () => {
    hub.fault('/tiny/disc/resolve/main/config.json', { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const s = await downloadModel('tiny/disc', opts());
    expect(fs.existsSync(path.join(s.path, 'config.json'))).toBe(true);
    expect(logs.filter((l) => /503.*retrying/.test(l)).length).toBe(1); // the first failure falls back to the (empty) cache, then retries
  });

  test('the Hub unreachable but the revision cached: the cache answers, with a note', async () => {
    const first = await downloadModel('tiny/disc', opts());
    const dead = await new MockHub().start();
    const endpoint = dead.endpoint;
    await dead.stop();
    const s = await downloadModel('tiny/disc', opts({ endpoint }));
    expect(s.path).toBe(first.path);
    expect(logs.some((l) => /not reachable.*using the cached config\.json/.test(l))).toBe(true);
  });

  test('bad ids and conflicting options: ERR_INPUT', async () => {
    expect((await failure(downloadModel('not an id', opts()))).code).toBe('ERR_INPUT');
    expect((await failure(downloadModel('a/b@v1', opts({ revision: 'v2' })))).code).toBe('ERR_INPUT');
    expect((await failure(downloadModel('a/b/../c', opts()))).code).toBe('ERR_INPUT');
  });
});

describe('resolveModel', () => {
  test('a local directory, a non-id path and undefined pass through untouched', async () => {
    expect(await resolveModel(DISC, opts())).toBe(DISC);
    expect(await resolveModel('./no/such/dir', opts())).toBe('./no/such/dir');
    expect(await resolveModel(undefined, opts())).toBeUndefined();
    expect(hub.requests()).toEqual([]);
  });

  test('an id that is also a local directory: the directory wins (as in Python)', async () => {
    const cwd = process.cwd();
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'cwd-'));
    fs.mkdirSync(path.join(dir, 'tiny', 'disc'), { recursive: true });
    process.chdir(dir);
    try {
      expect(await resolveModel('tiny/disc', opts())).toBe('tiny/disc');
    } finally {
      process.chdir(cwd);
    }
    expect(hub.requests()).toEqual([]);
  });

  test('an id resolves to its snapshot; a typo that is not a repo says there is no such directory either', async () => {
    const p = await resolveModel('tiny/disc', opts());
    expect(p).toBe(path.join(cache, 'models--tiny--disc', 'snapshots', commitId('disc')));
    const e = await failure(resolveModel('runs/ckpt-000100', opts()));
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toContain('no local directory runs/ckpt-000100');
  });

  test('tokenizer only: the tokenizer files, no config or weights', async () => {
    const p = await resolveModel('tiny/gen-bin', opts({ files: 'tokenizer' }));
    expect(fs.readdirSync(p).sort()).toEqual(['tokenizer_config.json', 'vocab.txt']);
  });
});

describe('electra cache ls / rm (functions)', () => {
  test('@huggingface/hub scanCacheDir reads our cache: the same repos, sizes, revisions and refs', async () => {
    await downloadModel('tiny/disc', opts());
    await downloadModel('tiny/gen-bin@main', opts());
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { scanCacheDir } = require('@huggingface/hub') as {
      scanCacheDir: (dir: string) => Promise<{ repos: { id: { name: string; type: string }; size: number; filesCount: number; revisions: { commitOid: string; refs: string[]; files: unknown[] }[] }[]; warnings: Error[] }>;
    };
    const theirs = await scanCacheDir(cache);
    expect(theirs.warnings).toEqual([]);
    const ours = scanCache(cache);
    expect(theirs.repos.map((r) => ({ repo: r.id.name, type: r.id.type, size: r.size, revisions: r.revisions.map((v) => ({ commit: v.commitOid, refs: v.refs, files: v.files.length })) })).sort((x, y) => x.repo.localeCompare(y.repo))).toEqual(
      ours.map((r) => ({ repo: r.repo, type: 'model', size: r.size, revisions: r.revisions.map((v) => ({ commit: v.commit, refs: v.refs, files: v.files.length })) })),
    );
  });

  test('sizes count each blob once; removing a revision keeps blobs another revision uses', async () => {
    const repo = repoFromDir(DISC, MODEL_FILES, 'rm-test');
    hub.add('tiny/rm', repo);
    const a = await downloadModel('tiny/rm', opts());
    const b = commitId('rm-test-2');
    repo.commits[b] = { ...repo.commits[a.commit]!, 'config.json': Buffer.from(read(path.join(GEN, 'config.json'))) };
    repo.refs.v2 = b;
    await downloadModel('tiny/rm@v2', opts());
    const [listed] = scanCache(cache);
    const blobs = fs.readdirSync(path.join(cache, 'models--tiny--rm', 'blobs')).map((f) => fs.statSync(path.join(cache, 'models--tiny--rm', 'blobs', f)).size);
    expect(listed!.repo).toBe('tiny/rm');
    expect(listed!.size).toBe(blobs.reduce((x, y) => x + y, 0));
    expect(listed!.revisions.map((r) => r.refs)).toEqual([a.commit, b].sort().map((c) => (c === a.commit ? ['main'] : ['v2'])));
    const r = removeFromCache(cache, 'tiny/rm', 'v2');
    expect(r.freed).toBe(read(path.join(GEN, 'config.json')).length); // only the v2 config was its own
    expect(fs.existsSync(path.join(a.path, 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(cache, 'models--tiny--rm', 'refs', 'v2'))).toBe(false);
    removeFromCache(cache, 'tiny/rm');
    expect(scanCache(cache)).toEqual([]);
    expect(() => removeFromCache(cache, 'tiny/rm')).toThrow(/not in the cache/);
  });
});
