'use strict';
/*
 * Ships libtorch with the app (Linux; see README.md for macOS and Windows).
 *
 * electra.node finds libtorch through an RPATH to the absolute directory it was built against
 * (build/electra-build.json: libtorchRoot), which will not exist on the user's machine. So:
 *   node package-libtorch.cjs stage   copies the libraries electra.node loads from that libtorch
 *                                     (ldd, transitively) into staged/libtorch/, keeping their
 *                                     layout below the libtorch's parent (torch/lib/...,
 *                                     nvidia/cu13/lib/...: the wheel's own $ORIGIN RPATHs keep
 *                                     working); electron-builder ships it as resources/libtorch
 *                                     (extraResources).
 *   afterPack hook (module export)    points the packaged copy of electra.node (in
 *                                     app.asar.unpacked) at resources/libtorch with an
 *                                     $ORIGIN-relative RPATH (patchelf). The dev install is
 *                                     left alone.
 * Also usable on any unpacked layout: node package-libtorch.cjs patch RESOURCES_DIR
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = () => path.dirname(require.resolve('electra-node/package.json', { paths: [__dirname] }));
const ADDON_IN_PKG = path.join('build', 'Release', 'electra.node');
const STAGED = path.join(__dirname, 'staged', 'libtorch');

function buildInfo(pkg) {
  return JSON.parse(fs.readFileSync(path.join(pkg, 'build', 'electra-build.json'), 'utf8'));
}

/** Copies the libtorch libraries electra.node needs into staged/libtorch/. */
function stage() {
  if (process.platform !== 'linux') throw new Error('stage: Linux only here; see README.md for macOS and Windows');
  const pkg = pkgDir();
  const root = fs.realpathSync(buildInfo(pkg).libtorchRoot); // .../torch (a wheel) or a libtorch zip
  const base = path.dirname(root);
  const addon = path.join(pkg, ADDON_IN_PKG);
  fs.rmSync(STAGED, { recursive: true, force: true });
  let bytes = 0;
  const libs = [];
  // ldd resolves the whole tree, with the RPATHs of the addon and of the libraries themselves
  for (const line of execFileSync('ldd', [addon], { encoding: 'utf8' }).split('\n')) {
    if (line.includes('=> not found')) throw new Error(`ldd ${addon}: ${line.trim()}`);
    const m = /^\s*(\S+) => (\/\S+)/.exec(line);
    if (!m) continue;
    const real = fs.realpathSync(m[2]);
    if (!real.startsWith(base + path.sep)) continue; // system libraries (libc, libstdc++) stay
    const rel = path.join(path.relative(base, path.dirname(real)), m[1]); // keep the soname
    fs.mkdirSync(path.join(STAGED, path.dirname(rel)), { recursive: true });
    fs.copyFileSync(real, path.join(STAGED, rel));
    bytes += fs.statSync(real).size;
    libs.push(rel);
  }
  const torchLib = path.relative(base, path.join(root, 'lib'));
  fs.writeFileSync(path.join(STAGED, 'staged.json'), JSON.stringify({ from: base, torchLib, libs }, null, 2));
  console.log(`staged ${libs.length} libraries (${(bytes / 2 ** 20).toFixed(0)} MiB) from ${base}:\n  ${libs.join('\n  ')}`);
}

/** Sets the RPATH of RESOURCES/app.asar.unpacked/node_modules/electra-node/build/Release/electra.node. */
function patch(resources) {
  const addon = path.join(resources, 'app.asar.unpacked', 'node_modules', 'electra-node', ADDON_IN_PKG);
  const { torchLib } = JSON.parse(fs.readFileSync(path.join(resources, 'libtorch', 'staged.json'), 'utf8'));
  const rpath = '$ORIGIN/' + path.relative(path.dirname(addon), path.join(resources, 'libtorch', torchLib));
  execFileSync('patchelf', ['--set-rpath', rpath, addon]);
  console.log(`electra.node RPATH -> ${rpath}`);
}

/** electron-builder afterPack hook. */
module.exports = async function afterPack(context) {
  if (context.electronPlatformName !== 'linux') {
    console.warn(`package-libtorch: ${context.electronPlatformName} is not automated; see README.md`);
    return;
  }
  patch(path.join(context.appOutDir, 'resources'));
};

if (require.main === module) {
  const [cmd, arg] = process.argv.slice(2);
  if (cmd === 'stage') stage();
  else if (cmd === 'patch' && arg) patch(path.resolve(arg));
  else {
    console.error('usage: node package-libtorch.cjs stage | patch RESOURCES_DIR');
    process.exit(2);
  }
}
