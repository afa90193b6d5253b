/* The libtorch resolver picks the right source for each layout (fake directories). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const lt = require('../../scripts/libtorch.cjs');

function fakeLibtorch(root: string, version = '2.5.1', opts: { cuda?: boolean; versionFile?: 'cmake' | 'build-version' | 'version.py'; omit?: string } = {}): string {
  const files: Record<string, string> = {
    'lib/libtorch_cpu.so': '',
    'lib/libc10.so': '',
    'include/torch/csrc/api/include/torch/torch.h': '',
    'share/cmake/Torch/TorchConfig.cmake': 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\n',
  };
  const vf = opts.versionFile ?? 'cmake';
  if (vf === 'cmake') files['share/cmake/Torch/TorchConfigVersion.cmake'] = `set(PACKAGE_VERSION "${version}")\n`;
  if (vf === 'build-version') files['build-version'] = `${version}+cpu\n`;
  if (vf === 'version.py') files['version.py'] = `__version__ = '${version}+cu130'\n`;
  if (opts.cuda) files['lib/libtorch_cuda.so'] = '';
  if (opts.omit) delete files[opts.omit];
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('libtorch resolver', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-lt-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('LIBTORCH wins over everything else (official zip layout)', () => {
    const a = fakeLibtorch(path.join(tmp, 'libtorch'), '2.4.0', { versionFile: 'build-version' });
    const b = fakeLibtorch(path.join(tmp, 'other'), '2.6.0');
    const r = lt.resolveLibtorch({ env: { LIBTORCH: a, Torch_DIR: path.join(b, 'share/cmake/Torch') }, projectDir: tmp, python: null });
    expect(r.source).toBe('LIBTORCH');
    expect(r.root).toBe(path.resolve(a));
    expect(r.version).toBe('2.4.0+cpu');
    expect(r.hasCuda).toBe(false);
    expect(r.cxx11Abi).toBe(0);
  });

  test('LIBTORCH accepts a python torch package directory (version.py) and sees CUDA', () => {
    const a = fakeLibtorch(path.join(tmp, 'site-packages', 'torch'), '2.11.0', { versionFile: 'version.py', cuda: true });
    const r = lt.resolveLibtorch({ env: { LIBTORCH: a }, projectDir: tmp, python: null });
    expect(r.version).toBe('2.11.0+cu130');
    expect(r.hasCuda).toBe(true);
  });

  test('Torch_DIR comes second', () => {
    const b = fakeLibtorch(path.join(tmp, 'lt'), '2.6.0');
    const r = lt.resolveLibtorch({ env: { Torch_DIR: path.join(b, 'share', 'cmake', 'Torch') }, projectDir: tmp, python: null });
    expect(r.source).toBe('Torch_DIR');
    expect(r.root).toBe(path.resolve(b));
  });

  test('the python3 torch comes third, located without importing it', () => {
    const site = path.join(tmp, 'site');
    fakeLibtorch(path.join(site, 'torch'), '2.7.0');
    fs.writeFileSync(path.join(site, 'torch', '__init__.py'), 'raise ImportError("must not be imported")\n');
    const py = path.join(tmp, 'py.sh');
    fs.writeFileSync(py, `#!/bin/sh\nPYTHONPATH=${site} exec python3 "$@"\n`, { mode: 0o755 });
    const r = lt.resolveLibtorch({ env: {}, projectDir: tmp, python: py });
    expect(r.source).toBe(`${py} torch`);
    expect(r.root).toBe(path.join(site, 'torch'));
  });

  test('.libtorch/ is last; nothing found reports every place tried', () => {
    const none = lt.resolveLibtorch({ env: {}, projectDir: tmp, python: null });
    expect(none.notFound).toBe(true);
    expect(none.tried.join(' ')).toMatch(/LIBTORCH.*Torch_DIR.*\.libtorch/);
    fakeLibtorch(path.join(tmp, '.libtorch', 'torch'), '2.15.0');
    const r = lt.resolveLibtorch({ env: {}, projectDir: tmp, python: null });
    expect(r.source).toBe('.libtorch');
  });

  test('a LIBTORCH that is not libtorch names the path and what is missing', () => {
    const bad = fakeLibtorch(path.join(tmp, 'bad'), '2.5.0', { omit: 'lib/libtorch_cpu.so' });
    expect(() => lt.resolveLibtorch({ env: { LIBTORCH: bad }, projectDir: tmp, python: null })).toThrow(
      new RegExp(`${bad}.*missing lib/libtorch_cpu\\.so`),
    );
    expect(() => lt.resolveLibtorch({ env: { LIBTORCH: path.join(tmp, 'nope') }, projectDir: tmp, python: null })).toThrow(/is not a directory/);
  });

  test('a libtorch older than 2.4 is refused with the version found', () => {
    const old = fakeLibtorch(path.join(tmp, 'old'), '1.13.1');
    expect(() => lt.resolveLibtorch({ env: { LIBTORCH: old }, projectDir: tmp, python: null })).toThrow(/1\.13\.1.*older than the minimum 2\.4\.0/);
  });

  test('no pip and no libtorch: the error lists the ways to provide one', () => {
    expect(() => lt.installPinned({ projectDir: tmp, python: path.join(tmp, 'no-python'), log: () => {} })).toThrow(
      /LIBTORCH=.*Torch_DIR=.*pip install torch/s,
    );
    expect(fs.existsSync(path.join(tmp, '.libtorch'))).toBe(false);
  });

  test('ELECTRA_CUDA: auto needs CUDA libs and a GPU; 1 without CUDA libs is an error', () => {
    const cpu = { hasCuda: false, root: '/x' };
    const gpu = { hasCuda: true, root: '/y' };
    expect(lt.decideCuda(gpu, 'auto', () => true)).toBe(true);
    expect(lt.decideCuda(gpu, 'auto', () => false)).toBe(false);
    expect(lt.decideCuda(cpu, 'auto', () => true)).toBe(false);
    expect(lt.decideCuda(gpu, '0', () => true)).toBe(false);
    expect(lt.decideCuda(gpu, '1', () => false)).toBe(true);
    expect(() => lt.decideCuda(cpu, '1', () => true)).toThrow(/no libtorch_cuda/);
    expect(() => lt.decideCuda(cpu, 'maybe', () => true)).toThrow(/auto, 0 or 1/);
  });

  test('version comparison', () => {
    expect(lt.versionAtLeast('2.4.0', '2.4.0')).toBe(true);
    expect(lt.versionAtLeast('2.10.1+cu130', '2.4.0')).toBe(true);
    expect(lt.versionAtLeast('2.3.9', '2.4.0')).toBe(false);
    expect(lt.versionAtLeast('garbage', '2.4.0')).toBe(false);
  });
});
