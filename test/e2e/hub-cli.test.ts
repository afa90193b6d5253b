/* The CLI with Hub ids, as a user runs it, against the mock Hub (needs dist/: npx tsup). */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FIXTURES, MODEL_FILES, MockHub, commitId, repoFromDir } from '../unit/hub-mock';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let hub: MockHub;
let tmp: string;
let cache: string;

/** Runs the CLI without blocking the event loop (the mock Hub lives in this process). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HF_|HUGGING)/.test(k) && k !== 'TRANSFORMERS_OFFLINE'));
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...base, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HOME: path.join(tmp, 'hf-home'), ...env }, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number) ?? 1 : 0, stdout, stderr });
    });
  });
}

const ok = (r: Result) => expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-800) }).toEqual({ code: 0, stderr: '' });

beforeAll(async () => {
  hub = await new MockHub().start();
  hub.add('tiny/seqcls', repoFromDir(path.join(FIXTURES, 'seqcls'), MODEL_FILES, 'seqcls'));
  hub.add('tiny/disc', repoFromDir(path.join(FIXTURES, 'disc-proj'), MODEL_FILES, 'disc'));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-hub-cli-'));
  cache = path.join(tmp, 'cache');
});

afterAll(async () => {
  await hub.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hub.log.length = 0;
});

test('electra download prints the snapshot directory; a second run fetches nothing', async () => {
  const r = await cli(['download', 'tiny/disc']);
  ok(r);
  const snap = path.join(cache, 'models--tiny--disc', 'snapshots', commitId('disc'));
  expect(r.stdout).toBe(`${snap}\n`);
  expect(r.stderr).toMatch(/tiny\/disc at [0-9a-f]{12}: 4 files, .* downloaded/);
  expect(fs.existsSync(path.join(snap, 'model.safetensors'))).toBe(true);
  hub.log.length = 0;
  const again = await cli(['download', 'tiny/disc', '--json']);
  ok(again);
  expect(JSON.parse(again.stdout)).toMatchObject({ id: 'tiny/disc', commit: commitId('disc'), path: snap, downloaded: 0 });
  expect(hub.requests('cdn')).toEqual([]);
});

test('electra predict --model org/name online, then offline without a request', async () => {
  const online = await cli(['predict', '--model', 'tiny/seqcls', '--json', 'the capital of paris is rome']);
  ok(online);
  const row = JSON.parse(online.stdout.trim()) as { label: string };
  expect(['negative', 'neutral', 'positive']).toContain(row.label);
  hub.log.length = 0;
  const offline = await cli(['predict', '--model', 'tiny/seqcls', '--json', 'the capital of paris is rome'], { HF_HUB_OFFLINE: '1' });
  ok(offline);
  expect(offline.stdout).toBe(online.stdout);
  expect(hub.requests()).toEqual([]);
}, 240_000);

test('errors: unknown model (ERR_NOT_FOUND), offline and not cached (ERR_OFFLINE with the command)', async () => {
  const missing = await cli(['download', 'nobody/nothing']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/ERR_NOT_FOUND: nobody\/nothing was not found/);
  const off = await cli(['embed', '--model', 'tiny/other', 'some text'], { TRANSFORMERS_OFFLINE: '1' });
  expect(off.code).toBe(1);
  expect(off.stderr).toMatch(/ERR_OFFLINE: .*run `electra download tiny\/other` while online/);
});

test('electra cache ls shows sizes; cache rm removes', async () => {
  ok(await cli(['download', 'tiny/disc']));
  const ls = await cli(['cache', 'ls']);
  ok(ls);
  const blobs = path.join(cache, 'models--tiny--disc', 'blobs');
  const size = fs.readdirSync(blobs).reduce((a, f) => a + fs.statSync(path.join(blobs, f)).size, 0);
  expect(ls.stdout).toMatch(/^MODEL\s+SIZE\s+REVISIONS\s+PATH/);
  expect(ls.stdout).toMatch(new RegExp(`tiny/disc\\s+${(size / 1000).toFixed(1)} kB\\s+main=${commitId('disc').slice(0, 12)} \\(4 files\\)`));
  const json = (await cli(['cache', 'ls', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { repo: string; size: number });
  expect(json.find((j) => j.repo === 'tiny/disc')!.size).toBe(size);
  const rm = await cli(['cache', 'rm', 'tiny/disc']);
  ok(rm);
  expect(rm.stdout).toMatch(/removed tiny\/disc \(1 revision, .* freed\)/);
  expect(fs.existsSync(path.join(cache, 'models--tiny--disc'))).toBe(false);
  const again = await cli(['cache', 'rm', 'tiny/disc']);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/ERR_NOT_FOUND/);
});
