/**
 * What a test needs from the machine beyond Node and the addon: python3 with torch and
 * transformers (the reference round trips), mkfifo, a tmpfs mount, the executor thread.
 *
 * A test whose prerequisite is missing is skipped, and its name says why ("[skipped: ...]"): it is
 * never counted as passed without having run. Python's tools are part of the suite, so under CI
 * (CI set to anything but "false" or "0") a test that needs them fails instead of skipping, so
 * that a broken install cannot go green. ELECTRA_TEST_PYTHON=0 turns the Python tests off on
 * purpose (scripts/asan.sh: no Python child processes under the ASan preload); they are then
 * skipped, in CI too.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Prerequisite {
  /** What the tests need, e.g. "python3 with torch, transformers". */
  readonly what: string;
  /** Why it is not there; undefined when it is. */
  readonly missing: string | undefined;
  /** When missing, fail the tests instead of skipping them. */
  readonly required: boolean;
}

/** True under CI (CI=true, as CI services and .ci/run set it). */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** A prerequisite from a check done by the caller. */
export function prerequisite(what: string, missing: string | undefined, required = false): Prerequisite {
  return { what, missing, required };
}

const pythonProbes = new Map<string, string | undefined>();

/** python3 that imports every module of `modules` (e.g. ['torch', 'transformers']). */
export function python(modules: readonly string[]): Prerequisite {
  const what = `python3 with ${modules.join(', ')}`;
  if (process.env.ELECTRA_TEST_PYTHON === '0') return prerequisite(what, 'ELECTRA_TEST_PYTHON=0 turns the Python tests off');
  const key = modules.join(', ');
  if (!pythonProbes.has(key)) {
    const r = spawnSync('python3', ['-c', `import ${key}`], { encoding: 'utf8', timeout: 120_000 });
    const why = r.error ? r.error.message : (r.stderr || `exit ${r.status}`).trim().split('\n').pop();
    pythonProbes.set(key, r.status === 0 ? undefined : why);
  }
  return prerequisite(what, pythonProbes.get(key), underCi());
}

/** mkfifo(1), tried once in a temporary directory. */
export function fifo(): Prerequisite {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-fifo-probe-'));
  try {
    const r = spawnSync('mkfifo', [path.join(dir, 'p')], { encoding: 'utf8' });
    return prerequisite('mkfifo', r.status === 0 ? undefined : (r.error?.message ?? r.stderr.trim()) || `exit ${r.status}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Mounting a tmpfs (root or CAP_SYS_ADMIN), tried once on a temporary directory. */
export function tmpfsMount(): Prerequisite {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-mount-probe-'));
  try {
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
    if (m.status === 0) spawnSync('umount', [dir]);
    const why = (m.error?.message ?? m.stderr.trim()) || `exit ${m.status}`;
    return prerequisite('a tmpfs mount (root or CAP_SYS_ADMIN)', m.status === 0 ? undefined : why);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function firstMissing(needs: readonly Prerequisite[]): Prerequisite | undefined {
  return needs.find((n) => n.required && n.missing !== undefined) ?? needs.find((n) => n.missing !== undefined);
}

const skipNote = (p: Prerequisite) => ` [skipped: needs ${p.what}; ${p.missing}]`;
const failure = (p: Prerequisite) =>
  new Error(`${p.what} is missing (${p.missing}); under CI this test must run, so the environment has to provide it`);

type TestBody = jest.ProvidesCallback;

/**
 * `test` when every prerequisite is there; otherwise `test.skip` with the reason in the name, or,
 * for a required one, a test that fails saying what is missing.
 */
export function testIf(...needs: Prerequisite[]): (name: string, fn: TestBody, timeout?: number) => void {
  const gap = firstMissing(needs);
  if (!gap) return (name, fn, timeout) => test(name, fn, timeout);
  if (gap.required) return (name) => test(`${name} [needs ${gap.what}]`, () => { throw failure(gap); });
  return (name, fn, timeout) => test.skip(name + skipNote(gap), fn, timeout);
}

/** `describe` when every prerequisite is there; otherwise as testIf, for the whole block. */
export function describeIf(...needs: Prerequisite[]): (name: string, fn: () => void) => void {
  const gap = firstMissing(needs);
  if (!gap) return (name, fn) => describe(name, fn);
  if (gap.required) return (name) => describe(`${name} [needs ${gap.what}]`, () => test('has what it needs', () => { throw failure(gap); }));
  return (name, fn) => describe.skip(name + skipNote(gap), fn);
}
