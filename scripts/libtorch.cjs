'use strict';
/**
 * libtorch resolver: finds a libtorch installation for the native build, in this order:
 *   1. LIBTORCH   - a libtorch directory (official zip layout or a Python `torch` package dir)
 *   2. Torch_DIR  - the CMake config directory (<root>/share/cmake/Torch)
 *   3. python3    - the `torch` package of the python3 on PATH (located without importing it,
 *                   so a CUDA wheel without its NVIDIA libraries still resolves)
 *   4. .libtorch/ - a project-local install (pip --target), made by `installPinned`
 * Plain CommonJS: it runs at `npm install` time, before the TypeScript is built.
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const MIN_VERSION = '2.4.0';
/** The PyPI torch wheel installed into .libtorch/ when nothing else is found. */
const PINNED_TORCH = '2.15.0';
/**
 * libtorch_cpu.so of the Linux torch 2.15 wheel has DT_NEEDED entries for the CUDA runtime and
 * CUPTI (profiler), even in a CPU-only process: these two small wheels (the versions its
 * cuda-toolkit 13.2.2 dependency pins) are installed beside it, never the multi-GB rest.
 */
const PINNED_EXTRAS = process.platform === 'linux' ? ['nvidia-cuda-runtime==13.2.86', 'nvidia-cuda-cupti==13.2.86'] : [];

class LibtorchError extends Error {
  constructor(message) {
    super(message);
    this.name = 'LibtorchError';
    this.code = 'ERR_LIBTORCH';
  }
}

function libName(base) {
  if (process.platform === 'darwin') return `lib${base}.dylib`;
  if (process.platform === 'win32') return `${base}.dll`;
  return `lib${base}.so`;
}

function parseVersion(v) {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(String(v));
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] || 0)];
}

function versionAtLeast(v, min) {
  const a = parseVersion(v);
  const b = parseVersion(min);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i++) {
    if (a[i] !== b[i]) return a[i] > b[i];
  }
  return true;
}

/** Reads the version from TorchConfigVersion.cmake, build-version or version.py. */
function readVersion(root) {
  const cfgVer = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfigVersion.cmake');
  if (fs.existsSync(cfgVer)) {
    const m = /set\(PACKAGE_VERSION "([^"]+)"\)/.exec(fs.readFileSync(cfgVer, 'utf8'));
    if (m) return m[1];
  }
  const bv = path.join(root, 'build-version');
  if (fs.existsSync(bv)) return fs.readFileSync(bv, 'utf8').trim();
  const vp = path.join(root, 'version.py');
  if (fs.existsSync(vp)) {
    const m = /__version__\s*=\s*'([^']+)'/.exec(fs.readFileSync(vp, 'utf8'));
    if (m) return m[1];
  }
  return null;
}

/** The C++ ABI flag libtorch was built with (TorchConfig.cmake records it). */
function readCxx11Abi(root) {
  const cfg = path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
  if (fs.existsSync(cfg)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(fs.readFileSync(cfg, 'utf8'));
    if (m) return Number(m[1]);
  }
  return 1;
}

/**
 * Checks that `root` is a usable libtorch and describes it. Throws LibtorchError naming the
 * path and what is missing, or the version found when it is too old.
 */
function inspectRoot(root, source) {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    throw new LibtorchError(`${source}: ${root} is not a directory`);
  }
  const required = [
    ['lib/' + libName('torch_cpu'), path.join(root, 'lib', libName('torch_cpu'))],
    ['lib/' + libName('c10'), path.join(root, 'lib', libName('c10'))],
    ['include/torch/csrc/api/include/torch/torch.h', path.join(root, 'include', 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h')],
    ['share/cmake/Torch/TorchConfig.cmake', path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake')],
  ];
  const missing = required.filter(([, p]) => !fs.existsSync(p)).map(([rel]) => rel);
  if (missing.length > 0) {
    throw new LibtorchError(
      `${source}: ${root} is not a libtorch directory (missing ${missing.join(', ')})`,
    );
  }
  const version = readVersion(root);
  if (!version) {
    throw new LibtorchError(`${source}: cannot read the libtorch version under ${root} (no share/cmake/Torch/TorchConfigVersion.cmake, build-version or version.py)`);
  }
  if (!versionAtLeast(version, MIN_VERSION)) {
    throw new LibtorchError(`${source}: libtorch ${version} at ${root} is older than the minimum ${MIN_VERSION}`);
  }
  return {
    source,
    root: path.resolve(root),
    version,
    cxx11Abi: readCxx11Abi(root),
    hasCuda: fs.existsSync(path.join(root, 'lib', libName('torch_cuda'))),
  };
}

/** Where the python3 on PATH has `torch`, found without importing it. */
function pythonTorchDir(python = 'python3') {
  const r = spawnSync(
    python,
    ['-c', "import importlib.util as u; s=u.find_spec('torch'); print(list(s.submodule_search_locations)[0] if s else '')"],
    { encoding: 'utf8', timeout: 60000 },
  );
  if (r.error || r.status !== 0) return null;
  const dir = r.stdout.trim();
  return dir || null;
}

/**
 * Finds libtorch. `opts`: { env, projectDir, python } (for tests). Returns a description or
 * null when no source has one; throws when a source is named explicitly but is unusable.
 */
function resolveLibtorch(opts = {}) {
  const env = opts.env || process.env;
  const projectDir = opts.projectDir || path.resolve(__dirname, '..');
  const python = opts.python === undefined ? 'python3' : opts.python;
  const tried = [];
  if (env.LIBTORCH) {
    const info = inspectRoot(env.LIBTORCH, 'LIBTORCH');
    return { ...info, tried };
  }
  tried.push('LIBTORCH (not set)');
  if (env.Torch_DIR) {
    const root = path.resolve(env.Torch_DIR, '..', '..', '..');
    const info = inspectRoot(root, 'Torch_DIR');
    return { ...info, tried };
  }
  tried.push('Torch_DIR (not set)');
  if (python) {
    const dir = pythonTorchDir(python);
    if (dir) {
      try {
        return { ...inspectRoot(dir, `${python} torch`), tried };
      } catch (e) {
        tried.push(`${python} torch (${e.message})`);
      }
    } else {
      tried.push(`${python} torch (not installed)`);
    }
  }
  const local = path.join(projectDir, '.libtorch', 'torch');
  if (fs.existsSync(local)) {
    return { ...inspectRoot(local, '.libtorch'), tried };
  }
  tried.push(`${path.join(projectDir, '.libtorch')} (absent)`);
  return { notFound: true, tried };
}

function hasPip(python) {
  const r = spawnSync(python, ['-m', 'pip', '--version'], { encoding: 'utf8', timeout: 60000 });
  return !r.error && r.status === 0;
}

/** Installs the pinned PyPI torch wheel into <projectDir>/.libtorch with pip --no-deps. */
function installPinned(opts = {}) {
  const projectDir = opts.projectDir || path.resolve(__dirname, '..');
  const python = opts.python || 'python3';
  const log = opts.log || ((m) => process.stderr.write(m + '\n'));
  if (!hasPip(python)) {
    throw new LibtorchError(
      'no libtorch found and no pip to install one. Provide libtorch in one of these ways:\n' +
        '  - LIBTORCH=/path/to/libtorch (the official zip, unpacked, or a Python torch package directory)\n' +
        '  - Torch_DIR=/path/to/libtorch/share/cmake/Torch\n' +
        `  - python3 -m pip install torch (>= ${MIN_VERSION}) so that python3 on PATH has it\n` +
        `  - install python3 with pip, and electra-node installs torch==${PINNED_TORCH} into .libtorch/`,
    );
  }
  const target = path.join(projectDir, '.libtorch');
  const tmp = target + '.partial';
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`no libtorch found; installing PyPI torch==${PINNED_TORCH} ${PINNED_EXTRAS.join(' ')} (--no-deps, CPU use) into ${target}`);
  const t0 = Date.now();
  const r = spawnSync(
    python,
    ['-m', 'pip', 'install', '--no-deps', '--disable-pip-version-check', '--no-compile', '--target', tmp, `torch==${PINNED_TORCH}`, ...PINNED_EXTRAS],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.error || r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new LibtorchError(`pip install torch==${PINNED_TORCH} failed (exit ${r.status}); see the output above`);
  }
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(tmp, target);
  log(`installed torch ${PINNED_TORCH} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return inspectRoot(path.join(target, 'torch'), '.libtorch');
}

/** Whether a CUDA GPU is visible to this process (driver device nodes or nvidia-smi). */
function gpuVisible() {
  if (process.env.CUDA_VISIBLE_DEVICES === '' || process.env.CUDA_VISIBLE_DEVICES === '-1') return false;
  if (fs.existsSync('/dev/nvidia0')) return true;
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 20000 });
  return !r.error && r.status === 0 && /GPU \d/.test(r.stdout);
}

/** ELECTRA_CUDA=auto|0|1 -> whether to build the CUDA path. */
function decideCuda(info, setting = process.env.ELECTRA_CUDA || 'auto', visible = gpuVisible) {
  const s = String(setting).toLowerCase();
  if (s === '0' || s === 'off' || s === 'false') return false;
  if (s === '1' || s === 'on' || s === 'true') {
    if (!info.hasCuda) throw new LibtorchError(`ELECTRA_CUDA=1 but the libtorch at ${info.root} has no ${libName('torch_cuda')}`);
    return true;
  }
  if (s !== 'auto') throw new LibtorchError(`ELECTRA_CUDA must be auto, 0 or 1 (got ${JSON.stringify(setting)})`);
  return info.hasCuda && visible();
}

module.exports = {
  MIN_VERSION,
  PINNED_TORCH,
  PINNED_EXTRAS,
  LibtorchError,
  versionAtLeast,
  readVersion,
  inspectRoot,
  resolveLibtorch,
  installPinned,
  decideCuda,
  gpuVisible,
  pythonTorchDir,
};
