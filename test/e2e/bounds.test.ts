/* Bounds before work, as a user meets them on the command line (needs dist/: npx tsup). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('CLI bounds', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-bounds-cli-'));
    fs.writeFileSync(path.join(tmp, 'corpus.txt'), 'the people built roads and schools\n');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('vocab --size above 2^22: ERR_CONFIG, nothing written', () => {
    const out = path.join(tmp, 'tok');
    const r = run(['vocab', '--corpus', path.join(tmp, 'corpus.txt'), '--out', out, '--size', String(2 ** 22 + 1)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERR_CONFIG: .*4194305.*maximum 4194304/);
    expect(fs.existsSync(path.join(out, 'vocab.txt'))).toBe(false);
  });

  test('launch --nproc above 256: ERR_CONFIG before any rank starts', () => {
    const out = path.join(tmp, 'run');
    const t0 = Date.now();
    const r = run(['launch', '--nproc', '100000', '--', 'pretrain', '--corpus', path.join(tmp, 'corpus.txt'), '--out', out, '--steps', '1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERR_CONFIG: --nproc must be <= 256, got 100000/);
    expect(r.stderr).not.toMatch(/\[rank/);
    expect(fs.existsSync(out)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});
