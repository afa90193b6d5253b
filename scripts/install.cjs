#!/usr/bin/env node
'use strict';
/**
 * `npm install` step: find (or install) libtorch, then build the addon with cmake-js using the
 * local Node headers. Prints what it found and how long each part took. On failure no
 * electra.node is left behind, so a half-built addon can never be loaded.
 *   --force        rebuild from a clean build directory
 * Environment: LIBTORCH, Torch_DIR, ELECTRA_CUDA=auto|0|1, ELECTRA_SKIP_BUILD=1,
 *              ELECTRA_BUILD_TYPE=Release|Debug|Asan, ELECTRA_BUILD_DIR (default build/; the
 *              AddressSanitizer build of scripts/asan.sh goes to build-asan/).
 */
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const lt = require('./libtorch.cjs');

const projectDir = path.resolve(__dirname, '..');
const buildDirName = process.env.ELECTRA_BUILD_DIR || 'build';
const buildDir = path.resolve(projectDir, buildDirName);
const addonPath = path.join(buildDir, 'Release', 'electra.node');
const infoPath = path.join(buildDir, 'electra-build.json');

function log(m) {
  process.stderr.write(`electra-node: ${m}\n`);
}

function nodeDir() {
  if (process.env.npm_config_nodedir && fs.existsSync(path.join(process.env.npm_config_nodedir, 'include', 'node', 'node_api.h'))) {
    return process.env.npm_config_nodedir;
  }
  // <prefix>/bin/node -> <prefix>
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  if (process.env.NODE_API_INCLUDE && fs.existsSync(path.join(process.env.NODE_API_INCLUDE, 'node_api.h'))) {
    return path.resolve(process.env.NODE_API_INCLUDE, '..', '..');
  }
  return null;
}

function main() {
  const force = process.argv.includes('--force');
  if (process.env.ELECTRA_SKIP_BUILD === '1') {
    log('ELECTRA_SKIP_BUILD=1: not building the native addon');
    return 0;
  }
  const t0 = Date.now();
  let info;
  try {
    info = lt.resolveLibtorch();
    if (info.notFound) {
      log(`no libtorch found (tried: ${info.tried.join('; ')})`);
      info = lt.installPinned({ projectDir, log });
    }
  } catch (e) {
    fs.rmSync(addonPath, { force: true });
    log(`error: ${e.message}`);
    return 1;
  }
  let cuda;
  try {
    cuda = lt.decideCuda(info);
  } catch (e) {
    log(`error: ${e.message}`);
    return 1;
  }
  log(`libtorch ${info.version} from ${info.source}: ${info.root}`);
  log(`CUDA build: ${cuda ? 'yes' : 'no'} (libtorch ${info.hasCuda ? 'has' : 'lacks'} CUDA; ELECTRA_CUDA=${process.env.ELECTRA_CUDA || 'auto'})`);

  const nd = nodeDir();
  if (!nd) {
    log('error: cannot find the Node.js headers (include/node/node_api.h) next to this node binary; set npm_config_nodedir to a Node prefix that has them');
    return 1;
  }
  const buildType = process.env.ELECTRA_BUILD_TYPE || 'Release';
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const ninja = spawnSync('ninja', ['--version']).status === 0;
  const args = [
    cmakeJs,
    force ? 'rebuild' : 'compile',
    '--directory', projectDir,
    '--out', buildDirName,
    ...(ninja ? ['-G', 'Ninja'] : []),
    `--CDLIBTORCH_ROOT=${info.root}`,
    `--CDELECTRA_CUDA=${cuda ? 'ON' : 'OFF'}`,
    `--CDTORCH_CXX11_ABI=${info.cxx11Abi}`,
    `--CDELECTRA_BUILD_TYPE=${buildType}`,
  ];
  if (buildType === 'Debug' || buildType === 'Asan') args.push('--debug');
  fs.rmSync(addonPath, { force: true });
  const tb = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: projectDir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, npm_config_nodedir: nd },
  });
  const built = path.join(buildDir, buildType === 'Release' ? 'Release' : 'Debug', 'electra.node');
  if (r.status !== 0 || !fs.existsSync(built)) {
    fs.rmSync(addonPath, { force: true });
    fs.rmSync(built, { force: true });
    log(`error: the native build failed (exit ${r.status}); no addon was installed`);
    return 1;
  }
  if (built !== addonPath) {
    fs.mkdirSync(path.dirname(addonPath), { recursive: true });
    fs.copyFileSync(built, addonPath);
  }
  // Load it once in a child process: a library that libtorch needs but that is missing must
  // fail here, not in the user's program.
  // An AddressSanitizer build needs the ASan runtime loaded first.
  const probeEnv = { ...process.env };
  if (buildType === 'Asan') {
    const asan = spawnSync(process.env.CXX || 'g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
    probeEnv.LD_PRELOAD = asan;
    probeEnv.ASAN_OPTIONS = 'detect_leaks=0';
  }
  const probe = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(addonPath)}); if (!a.runtime().libtorchVersion) process.exit(3);`], { encoding: 'utf8', env: probeEnv });
  if (probe.status !== 0) {
    fs.rmSync(addonPath, { force: true });
    log(`error: the addon was built but does not load with the libtorch at ${info.root}:\n${(probe.stderr || '').trim().split('\n').slice(0, 6).join('\n')}`);
    return 1;
  }
  const meta = {
    libtorchSource: info.source,
    libtorchRoot: info.root,
    libtorchVersion: info.version,
    cuda,
    buildType,
    builtAt: new Date().toISOString(),
    buildSeconds: (Date.now() - tb) / 1000,
  };
  fs.writeFileSync(infoPath, JSON.stringify(meta, null, 2));
  log(`addon built in ${meta.buildSeconds.toFixed(1)} s (total ${((Date.now() - t0) / 1000).toFixed(1)} s): ${addonPath}`);
  return 0;
}

process.exitCode = main();
