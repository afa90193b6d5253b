/* The CLI's standard output when the reader goes away (needs dist/: npx tsup). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const MODEL = path.join(__dirname, '..', 'fixtures', 'models', 'seqcls');

describe('electra predict with a closed or full stdout', () => {
  let tmp: string;
  let texts: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-stdout-'));
    texts = path.join(tmp, 'texts.txt');
    // Far more output than a pipe buffer holds, so writes go on after the reader has gone.
    const lines = Array.from({ length: 4000 }, (_, i) => `the people of this nation built ${i} roads and schools`);
    fs.writeFileSync(texts, lines.join('\n') + '\n');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const sh = (pipeline: string) =>
    spawnSync('bash', ['-c', `${pipeline}; echo "exit=\${PIPESTATUS[0]}" >&2`], { encoding: 'utf8', env: { ...process.env, ELECTRA_DEBUG: '' } });
  const cmd = () => `"${process.execPath}" "${CLI}" predict --model "${MODEL}" --json --batch 64 --file "${texts}"`;

  test('a reader that closes early (| head -1): exit 0, nothing on stderr', () => {
    const r = sh(`${cmd()} | head -1`);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(JSON.parse(r.stdout.trim())).toHaveProperty('label');
    expect(r.stderr).not.toMatch(/Unhandled|EPIPE|at /);
    expect(r.stderr.trim()).toBe('exit=0');
  });

  test('a full device (> /dev/full): ERR_IO, exit 1, no stack trace', () => {
    const r = sh(`${cmd()} > /dev/full`);
    expect(r.stderr).toMatch(/^electra predict: ERR_IO: cannot write to standard output: .*ENOSPC/m);
    expect(r.stderr).not.toMatch(/Unhandled|\n\s+at /);
    expect(r.stderr).toMatch(/exit=1\s*$/);
  });
});
