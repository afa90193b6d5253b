/* `electra export` as a user runs it (needs dist/: npx tsup): output, exit codes, no libtorch needed. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const FIX = path.join(__dirname, '..', 'fixtures', 'models');
const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-export-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('--help, and the command is listed', () => {
  const h = run(['export', '--help']);
  expect(h.status).toBe(0);
  expect(h.stdout).toContain('usage: electra export --model DIR --out DIR');
  expect(run(['--help']).stdout).toMatch(/\n {2}export +write a model as ONNX/);
});

test('exports fp32 and q8 without the addon (a missing libtorch does not matter)', () => {
  const out = path.join(tmp, 'tokcls');
  const r = run(['export', '--model', path.join(FIX, 'tokcls'), '--out', out, '--quantize', 'q8', '--opset', '20'], { ELECTRA_ADDON: path.join(tmp, 'no-such-addon.node') });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  expect(r.stdout).toContain('(token-classification)');
  expect(r.stdout).toContain('opset 20');
  expect(r.stdout).toContain('outputs logits');
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx']) expect(fs.existsSync(path.join(out, f))).toBe(true);
});

test('bad input: exit 1 with the error code', () => {
  const out = path.join(tmp, 'seqcls');
  const src = path.join(FIX, 'seqcls');
  const head = run(['export', '--model', src, '--out', out, '--head', 'pooler']);
  expect(head.status).toBe(1);
  expect(head.stderr).toContain('ERR_INPUT: unknown head "pooler"');
  const q = run(['export', '--model', src, '--out', out, '--quantize', 'q4']);
  expect(q.stderr).toContain('ERR_INPUT');
  const missing = run(['export', '--model', path.join(FIX, 'base'), '--out', out, '--head', 'sequence-classification']);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toContain('ERR_CHECKPOINT');
  expect(run(['export', '--model', src, '--out', out]).status).toBe(0);
  const other = run(['export', '--model', path.join(FIX, 'qa'), '--out', out]);
  expect(other.status).toBe(1);
  expect(other.stderr).toContain('ERR_INPUT');
  expect(other.stderr).toContain('--overwrite');
  expect(run(['export', '--model', path.join(FIX, 'qa'), '--out', out, '--overwrite']).status).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).architectures).toEqual(['ElectraForQuestionAnswering']);
  expect(run(['export', '--out', out]).stderr).toContain('--model DIR is required');
});
