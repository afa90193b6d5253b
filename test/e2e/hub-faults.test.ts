/*
 * Download faults with real processes (`electra download`, needs dist/: npx tsup) against the
 * mock Hub: SIGKILL at random points then resume and verify; two processes fetching the same
 * model at once; a disk that fills up mid-download (a 1 MiB tmpfs in a private mount namespace).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FIXTURES, MockHub, commitId, sha256 } from '../unit/hub-mock';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const DISC = path.join(FIXTURES, 'disc-proj');
const BIG_SIZE = 2 * 1024 * 1024;
const SEED = Number(process.env.ELECTRA_FAULT_SEED ?? 20260501);

let hub: MockHub;
let tmp: string;
let big: Buffer;

function env(cache: string): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING)/.test(k) && k !== 'TRANSFORMERS_OFFLINE'));
  return { ...base, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HOME: path.join(tmp, 'hf-home'), HF_HUB_DISABLE_PROGRESS_BARS: '1' };
}

function cli(args: string[], cache: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: env(cache), encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

/** Every file under snapshots/ resolves to a regular file; nothing partial is in a snapshot. */
function snapshotIntact(repoDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        expect({ p, isFile: fs.statSync(p).isFile() }).toEqual({ p, isFile: true });
        out.push(path.relative(path.join(repoDir, 'snapshots'), p));
      }
    }
  };
  walk(path.join(repoDir, 'snapshots'));
  return out.sort();
}

/** A small seeded generator, so a failing trial can be replayed (ELECTRA_FAULT_SEED). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

beforeAll(async () => {
  hub = await new MockHub().start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-hub-faults-'));
  big = crypto.createHash('sha512').update(String(SEED)).digest();
  big = Buffer.concat(Array.from({ length: BIG_SIZE / big.length }, (_, i) => crypto.createHash('sha512').update(`${SEED}:${i}`).digest()));
  const commit = commitId('big');
  hub.add('tiny/big', {
    refs: { main: commit },
    commits: { [commit]: { 'config.json': fs.readFileSync(path.join(DISC, 'config.json')), 'model.safetensors': big, 'vocab.txt': fs.readFileSync(path.join(DISC, 'vocab.txt')) } },
  });
});

afterAll(async () => {
  hub.onSent = undefined;
  await hub.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hub.log.length = 0;
  hub.throttle = undefined;
  hub.onSent = undefined;
});

test(`SIGKILL at random points of a download (10 trials, seed ${SEED}), then a run that resumes and verifies`, async () => {
  const cache = path.join(tmp, 'cache-kill');
  const repoDir = path.join(cache, 'models--tiny--big');
  const inc = path.join(repoDir, 'blobs', `${sha256(big)}.incomplete`);
  const cdnPath = hub.cdnPath(big);
  const rand = rng(SEED);
  hub.throttle = { chunk: 16 * 1024, delayMs: 4 };
  const starts: number[] = [];
  for (let trial = 0; trial < 10; trial++) {
    const have = fs.existsSync(inc) ? fs.statSync(inc).size : 0;
    const remaining = BIG_SIZE - have;
    // Kill once this response has sent a random share of what is left, never the last 64 KiB.
    const killAt = 1 + Math.floor(rand() * Math.max(1, remaining - 64 * 1024));
    const before = hub.requests('cdn').length;
    const child = spawn(process.execPath, [CLI, 'download', 'tiny/big', '--quiet'], { env: env(cache), stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
    hub.onSent = (p, sent) => {
      if (p === cdnPath && sent >= killAt) child.kill('SIGKILL');
    };
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const sig = await exited;
    clearTimeout(guard);
    hub.onSent = undefined;
    expect({ trial, sig }).toEqual({ trial, sig: 'SIGKILL' });
    const req = hub.requests('cdn').slice(before);
    expect(req.length).toBe(1);
    starts.push(req[0]!.range ? Number(/bytes=(\d+)-/.exec(req[0]!.range)![1]) : 0);
    expect(starts[trial]).toBe(have); // resumed exactly where the previous process stopped writing
    // Never a partial or dangling file in the snapshot.
    expect(snapshotIntact(repoDir)).not.toContain(`${commitId('big')}/model.safetensors`);
    expect(fs.existsSync(inc) ? fs.statSync(inc).size : 0).toBeLessThan(BIG_SIZE);
  }
  expect(starts.filter((s) => s > 0).length).toBeGreaterThanOrEqual(5); // the trials really resumed
  hub.throttle = undefined;
  const have = fs.existsSync(inc) ? fs.statSync(inc).size : 0;
  const done = await cli(['download', 'tiny/big', '--quiet'], cache);
  expect(done.code).toBe(0);
  expect(done.stderr).toBe(have > 0 ? `electra: downloading model.safetensors of tiny/big: resuming at byte ${have}\n` : '');
  const final = hub.requests('cdn').slice(-1)[0]!;
  expect(final.range).toBe(have > 0 ? `bytes=${have}-` : undefined);
  const snap = path.join(repoDir, 'snapshots', commitId('big'), 'model.safetensors');
  expect(sha256(fs.readFileSync(snap))).toBe(sha256(big));
  expect(fs.existsSync(inc)).toBe(false);
  expect(fs.readdirSync(path.join(cache, '.locks', 'models--tiny--big'))).toEqual([]); // the dead owners' locks were broken
}, 600_000);

test('two processes fetching the same model at once: one transfer, both succeed, one intact blob', async () => {
  const cache = path.join(tmp, 'cache-two');
  hub.throttle = { chunk: 32 * 1024, delayMs: 40 };
  // The second starts once the first is midway through the weights, so it finds the lock held.
  let started: (() => void) | undefined;
  const midway = new Promise<void>((res) => (started = res));
  hub.onSent = (p, sent) => {
    if (p === hub.cdnPath(big) && sent >= 256 * 1024) started?.();
  };
  const first = cli(['download', 'tiny/big'], cache);
  await midway;
  hub.onSent = undefined;
  const [a, b] = await Promise.all([first, cli(['download', 'tiny/big'], cache)]);
  expect([a.code, b.code]).toEqual([0, 0]);
  expect(a.stdout).toBe(b.stdout);
  expect(hub.requests('cdn').filter((r) => r.method === 'GET').length).toBe(1);
  expect(`${a.stderr}${b.stderr}`).toMatch(/waiting for process \d+ on .*, which is downloading model\.safetensors/);
  expect(sha256(fs.readFileSync(path.join(a.stdout.trim(), 'model.safetensors')))).toBe(sha256(big));
  const repoDir = path.join(cache, 'models--tiny--big');
  expect(fs.readdirSync(path.join(repoDir, 'blobs')).filter((f) => f.includes('incomplete'))).toEqual([]);
  snapshotIntact(repoDir);
}, 300_000);

// A real full disk: a 1 MiB tmpfs mounted in a private user + mount namespace (no root needed
// where unprivileged user namespaces are allowed); the 2 MiB weights cannot fit.
const probe = spawnSync('unshare', ['-Urm', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && echo mounted; umount "$d" 2>/dev/null; rmdir "$d"'], { encoding: 'utf8' });
const canMount = probe.stdout?.includes('mounted') ?? false;
const tmpfsTest = canMount ? test : test.skip;

tmpfsTest(`a disk that fills mid-download gives ERR_IO and no broken snapshot (1 MiB tmpfs)${canMount ? '' : ` [skipped: cannot mount a tmpfs: ${(probe.error?.message ?? probe.stderr ?? '').trim() || 'unshare -Urm failed'}]`}`, async () => {
  const mnt = fs.mkdtempSync(path.join(tmp, 'tmpfs-'));
  const cache = path.join(mnt, 'cache');
  // Mount, download, then report what is on the tmpfs before the namespace (and the mount) goes away.
  const script = [
    `mount -t tmpfs -o size=1m tmpfs "${mnt}" || exit 90`,
    `"${process.execPath}" "${CLI}" download tiny/big --quiet; echo "rc=$?"`,
    `echo "broken=$(find -L "${cache}" -type l | wc -l)"`,
    `find "${cache}" -path '*snapshots*' \\( -type f -o -type l \\) -printf 'snap %P\\n'`,
    `find "${cache}/models--tiny--big/blobs" -type f -printf 'blob %f %s\\n'`,
  ].join('\n');
  const r = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    const child = spawn('unshare', ['-Urm', 'sh', '-c', script], { env: env(cache) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ stdout, stderr, code }));
  });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^rc=1$/m);
  expect(r.stderr).toMatch(/ERR_IO: the disk is full writing .*\.incomplete \(ENOSPC\)/);
  expect(r.stdout).toMatch(/^broken=0$/m);
  const snaps = r.stdout.split('\n').filter((l) => l.startsWith('snap '));
  expect(snaps.some((l) => l.endsWith('/config.json'))).toBe(true); // the small files made it
  expect(snaps.some((l) => l.includes('model.safetensors'))).toBe(false); // the weights did not, and are not half there
  expect(r.stdout).not.toMatch(/^blob .*incomplete/m); // the partial file was removed
}, 300_000);
