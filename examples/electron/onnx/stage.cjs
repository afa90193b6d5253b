'use strict';
/*
 * Packaging of the ONNX mode, and the sizes of what each mode ships.
 *
 *   node stage.cjs stage   copies the shared page script (../renderer.js) and the vendor files
 *                          (transformers.js' browser bundle, onnxruntime-web's WebAssembly build)
 *                          into staged/, which electron-builder packs (package.json `files`).
 *                          The package has no `dependencies`: nothing of node_modules is packed,
 *                          so neither libtorch nor any native addon is in the app.
 *   node stage.cjs sizes [--models DIR]...
 *                          prints the bytes each mode adds to Electron itself: the ONNX mode's
 *                          app files + vendor files (+ the model directories given), and the
 *                          libtorch mode's electra-node (dist/, the addon, its runtime
 *                          dependencies) + the libtorch libraries the addon loads (ldd, as
 *                          ../package-libtorch.cjs stages them). Measured on the files themselves
 *                          (no copy needed); docs/onnx.md has the table.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { VENDOR, vendorSources } = require('./files');

const STAGED = path.join(__dirname, 'staged');
const REPO = path.resolve(__dirname, '..', '..', '..');

function stage() {
  fs.rmSync(STAGED, { recursive: true, force: true });
  fs.mkdirSync(path.join(STAGED, 'vendor'), { recursive: true });
  fs.copyFileSync(path.join(__dirname, '..', 'renderer.js'), path.join(STAGED, 'renderer.js'));
  const src = vendorSources(__dirname);
  for (const n of VENDOR) fs.copyFileSync(src[n], path.join(STAGED, 'vendor', n));
  console.log(`staged renderer.js and ${VENDOR.join(', ')} in ${path.relative(process.cwd(), STAGED) || '.'}`);
}

function du(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, n) => s + du(path.join(p, n)), 0);
}

const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Bytes of the libtorch libraries electra.node loads (ldd), as ../package-libtorch.cjs stages them. */
function libtorchBytes(addon) {
  const info = JSON.parse(fs.readFileSync(path.join(REPO, 'build', 'electra-build.json'), 'utf8'));
  const base = path.dirname(fs.realpathSync(info.libtorchRoot));
  let bytes = 0;
  const libs = [];
  for (const line of execFileSync('ldd', [addon], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*(\S+) => (\/\S+)/.exec(line);
    if (!m) continue;
    const real = fs.realpathSync(m[2]);
    if (!real.startsWith(base + path.sep)) continue;
    bytes += fs.statSync(real).size;
    libs.push(`${path.basename(real)} ${mib(fs.statSync(real).size)}`);
  }
  return { bytes, libs };
}

function sizes(modelDirs) {
  const rows = [];
  const app = ['main.js', 'files.js', 'bridge.mjs', 'tasks.mjs', 'index.html', 'package.json'].reduce((s, f) => s + du(path.join(__dirname, f)), 0) + du(path.join(__dirname, '..', 'renderer.js'));
  const src = vendorSources(__dirname);
  const vendor = VENDOR.map((n) => [n, du(src[n])]);
  const models = modelDirs.map((d) => [d, du(d)]);
  const onnx = app + vendor.reduce((s, [, b]) => s + b, 0);
  rows.push('ONNX mode (what electron-builder packs besides Electron):');
  rows.push(`  app files ${mib(app)}`);
  for (const [n, b] of vendor) rows.push(`  vendor/${n} ${mib(b)}`);
  rows.push(`  total without models ${mib(onnx)}`);
  for (const [d, b] of models) rows.push(`  model ${d} ${mib(b)}`);
  // libtorch mode: electra-node as installed from a package (files of package.json) + its build + runtime dependencies
  const addon = path.join(REPO, 'build', 'Release', 'electra.node');
  const pkg = ['dist', 'bin', 'package.json'].reduce((s, f) => s + du(path.join(REPO, f)), 0) + du(addon);
  const nm = path.join(REPO, 'node_modules');
  // runtime dependencies (cmake-js and node-addon-api are build-time only and can be left out)
  const deps = ['tokenizers', 'zod', 'protobufjs', '@protobufjs', 'long'].filter((d) => fs.existsSync(path.join(nm, d))).map((d) => [d, du(path.join(nm, d))]);
  const depBytes = deps.reduce((s, [, b]) => s + b, 0);
  const lt = libtorchBytes(addon);
  rows.push('libtorch mode:');
  rows.push(`  electra-node (dist, bin, the addon) ${mib(pkg)}`);
  rows.push(`  runtime dependencies ${mib(depBytes)}: ${deps.map(([d, b]) => `${d} ${mib(b)}`).join(', ')} (tokenizers ships the bindings of every platform)`);
  rows.push(`  libtorch libraries ${mib(lt.bytes)}: ${lt.libs.join(', ')}`);
  rows.push(`  total without models ${mib(pkg + depBytes + lt.bytes)}`);
  console.log(rows.join('\n'));
}

if (require.main === module) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'stage') stage();
  else if (cmd === 'sizes') {
    const dirs = [];
    for (let i = 0; i < rest.length; i++) if (rest[i] === '--models' && rest[i + 1]) dirs.push(rest[++i]);
    sizes(dirs);
  } else {
    console.error('usage: node stage.cjs stage | sizes [--models DIR]...');
    process.exit(2);
  }
}
