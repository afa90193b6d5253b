/* The CLI as a user runs it: doctor, help, bad commands and options. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('electra CLI', () => {
  test('doctor --json reports the runtime', () => {
    const r = run('doctor', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { libtorchVersion: string; libtorchSource: string; libtorchPath: string; threads: number; cudaAvailable: boolean };
    expect(j.libtorchVersion).toMatch(/^2\.\d+/);
    // Where the build found libtorch, as the install recorded it (scripts/libtorch.cjs's rules).
    const built = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'build', 'electra-build.json'), 'utf8')) as { libtorchSource: string; libtorchRoot: string };
    expect({ source: j.libtorchSource, path: j.libtorchPath }).toEqual({ source: built.libtorchSource, path: built.libtorchRoot });
    expect(j.libtorchSource).toMatch(/^(LIBTORCH|Torch_DIR|\S+ torch|\.libtorch)$/);
    expect(j.threads).toBeGreaterThan(0);
    expect(typeof j.cudaAvailable).toBe('boolean');
    const human = run('doctor');
    expect(human.stdout).toMatch(/libtorch\s+2\.\d+/);
  });

  test('help, version, unknown commands and bad options', () => {
    expect(run('--help').stdout).toMatch(/pretrain/);
    expect(run('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const u = run('fly');
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/unknown command 'fly'/);
    const p = run('pretrain', '--steps', '3');
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/ERR_CONFIG: --out is required/);
    const b = run('pretrain', '--out', '/tmp/x', '--steps', 'many');
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/--steps must be an integer/);
    const o = run('pretrain', '--bogus');
    expect(o.stderr).toMatch(/ERR_CONFIG/);
  });

  test('an ELECTRA_ADDON that does not exist is ERR_NATIVE naming the file and the variable', () => {
    const missing = path.join(__dirname, 'no-such-dir', 'electra.node');
    const r = spawnSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8', env: { ...process.env, ELECTRA_ADDON: missing } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`ERR_NATIVE: the native addon ${missing} named by ELECTRA_ADDON does not exist`);
  });
});
