/*
 * The Electron example's ONNX mode (examples/electron/onnx/) without Electron: its operations
 * (tasks.mjs, run by transformers.js on models written by exportOnnx) give the answers of the
 * libtorch mode's model host (electra-node's classify, detectReplaced and embed), and its app://
 * protocol (files.js) serves the page, the vendor files and the model files and nothing else.
 * What Electron itself adds (the window, the protocol registration, the WebAssembly backend in
 * Chromium) is not run here: Electron's binaries come from GitHub.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { exportOnnx } from '../../src/export';

const ROOT = path.resolve(__dirname, '..', '..');
const APP = path.join(ROOT, 'examples', 'electron', 'onnx');
const FIX = path.join(ROOT, 'test', 'fixtures', 'models');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createResolver, HEADERS } = require(path.join(APP, 'files.js')) as {
  createResolver: (o: { appDir: string; models: Record<string, string> }) => (method: string, url: string) => { file?: string; headers?: Record<string, string>; status?: number };
  HEADERS: Record<string, string>;
};
const TEXTS = ['John lives in Paris.', 'the quick brown fox', 'Mary works in London, the city of good people!', 'a'];

let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-electron-onnx-'));
  await exportOnnx(path.join(FIX, 'seqcls'), { out: path.join(tmp, 'classifier'), quantize: 'q8' });
  await exportOnnx(path.join(FIX, 'disc-proj'), { out: path.join(tmp, 'discriminator'), quantize: 'q8' });
  await exportOnnx(path.join(FIX, 'disc-proj'), { out: path.join(tmp, 'encoder'), quantize: 'q8', head: 'none' });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function driver(dtype: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'electron-onnx-driver.mjs'), tmp, dtype, JSON.stringify(TEXTS)], { encoding: 'utf8', cwd: ROOT });
  expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

test('the ONNX-mode operations answer as the libtorch model host does (fp32 within 1e-4)', async () => {
  const got = driver('fp32') as {
    info: { runtime: string };
    classify: { label: string; score: number }[];
    detect: { tokens: { token: string; probability: number; replaced: boolean }[] }[];
    embed: number[][];
    badInput: string;
  };
  expect(got.info.runtime).toMatch(/^transformers\.js 4\.3\.2/);
  expect(got.badInput).toBe('ERR_INPUT');
  const cls = await Electra.load(path.join(FIX, 'seqcls'));
  const disc = await Electra.load(path.join(FIX, 'disc-proj'));
  try {
    const c = await cls.classify(TEXTS);
    expect(got.classify.map((x) => x.label)).toEqual(c.map((x) => x.label));
    got.classify.forEach((x, i) => expect(Math.abs(x.score - c[i]!.score)).toBeLessThan(1e-4));
    const d = await disc.detectReplaced(TEXTS);
    got.detect.forEach((g, i) => {
      expect(g.tokens.map((t) => t.token)).toEqual(d[i]!.tokens.map((t) => t.token));
      g.tokens.forEach((t, k) => expect(Math.abs(t.probability - d[i]!.tokens[k]!.probability)).toBeLessThan(1e-4));
    });
    const e = await disc.embed(TEXTS, { pooling: 'mean', normalize: true });
    got.embed.forEach((v, i) => v.forEach((x, k) => expect(Math.abs(x - e[i]![k]!)).toBeLessThan(1e-4)));
  } finally {
    cls.dispose();
    disc.dispose();
  }
});

test('q8 (the mode default) loads model_quantized.onnx and keeps the labels', async () => {
  const got = driver('q8') as { classify: { label: string }[]; embed: number[][] };
  const cls = await Electra.load(path.join(FIX, 'seqcls'));
  try {
    expect(got.classify.map((x) => x.label)).toEqual((await cls.classify(TEXTS)).map((x) => x.label));
  } finally {
    cls.dispose();
  }
  expect(got.embed).toHaveLength(TEXTS.length);
});

test('the app:// protocol serves the page, the vendor files and the model files, nothing else', () => {
  const models = { classifier: path.join(tmp, 'classifier'), encoder: path.join(tmp, 'encoder') };
  const resolve = createResolver({ appDir: APP, models });
  for (const [url, type] of [
    ['app://bundle/index.html', 'text/html; charset=utf-8'],
    ['app://bundle/bridge.mjs', 'text/javascript; charset=utf-8'],
    ['app://bundle/renderer.js', 'text/javascript; charset=utf-8'],
    ['app://bundle/vendor/transformers.min.js', 'text/javascript; charset=utf-8'],
    ['app://bundle/vendor/ort-wasm-simd-threaded.asyncify.wasm', 'application/wasm'],
    ['app://bundle/models/classifier/config.json', 'application/json; charset=utf-8'],
    ['app://bundle/models/classifier/onnx/model_quantized.onnx', 'application/octet-stream'],
  ]) {
    const r = resolve('GET', url!);
    expect({ url, exists: r.file !== undefined && fs.existsSync(r.file), type: r.headers?.['Content-Type'] }).toEqual({ url, exists: true, type });
    expect(r.headers).toMatchObject(HEADERS); // cross-origin isolated: threads in onnxruntime-web
  }
  // a symlink out of a model directory, .., other models, files of the app that are not the page, other methods and hosts
  fs.symlinkSync('/etc/hostname', path.join(tmp, 'classifier', 'leak.txt'));
  for (const url of [
    'app://bundle/models/classifier/leak.txt',
    'app://bundle/models/classifier/..%2f..%2f..%2fetc%2fhostname',
    'app://bundle/models/classifier/%2e%2e%2fencoder%2fconfig.json',
    'app://bundle/models/classifier/onnx',
    'app://bundle/models/discriminator/config.json',
    'app://bundle/models/__proto__/config.json',
    'app://bundle/main.js',
    'app://bundle/stage.cjs',
    'app://bundle/vendor/../main.js',
    'app://other/index.html',
    'file:///etc/hostname',
  ]) {
    expect({ url, r: resolve('GET', url) }).toEqual({ url, r: { status: 404 } });
  }
  expect(resolve('POST', 'app://bundle/index.html')).toEqual({ status: 404 });
});

test('the ONNX-mode package has no dependencies: nothing of node_modules (libtorch, addons) is packed', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(APP, 'package.json'), 'utf8')) as { dependencies?: unknown; build: { files: string[] } };
  expect(pkg.dependencies).toBeUndefined();
  expect(pkg.build.files.some((f) => f.includes('node_modules'))).toBe(false);
});
