'use strict';
/*
 * What the ONNX mode's app:// protocol serves, as a pure function (no Electron: tested in Node by
 * test/e2e/electron-onnx.test.ts). Everything is under app://bundle/ (one origin, so the page's
 * Content-Security-Policy 'self' covers it):
 *   app://bundle/<page file>          index.html, bridge.mjs, tasks.mjs, renderer.js (the
 *                                     libtorch mode's page script, shared)
 *   app://bundle/vendor/<file>        transformers.js' browser bundle and onnxruntime-web's
 *                                     WebAssembly build: the only third-party files shipped
 *   app://bundle/models/<name>/<path> a file of an exported model directory (`electra export`)
 * Anything else, any other method, a path that leaves its directory (.., a symlink out) or a
 * path that is not a regular file: 404. Every answer carries the headers that make the page
 * cross-origin isolated (SharedArrayBuffer, so that onnxruntime-web can use threads).
 *
 * Packaged, stage.cjs has copied renderer.js and the vendor files into staged/; in development
 * they come from ../renderer.js and node_modules.
 */
const fs = require('node:fs');
const path = require('node:path');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

const VENDOR = ['transformers.min.js', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

/** Where each vendor file is in node_modules (this folder's, else the repository's). */
function vendorSources(appDir) {
  const search = [appDir, path.resolve(appDir, '..', '..', '..')];
  const tjs = path.dirname(require.resolve('@huggingface/transformers', { paths: search })); // .../dist
  const ortWeb = path.dirname(require.resolve('onnxruntime-web', { paths: [tjs, ...search] })); // .../dist (the version transformers.js bundles)
  return {
    'transformers.min.js': path.join(tjs, 'transformers.min.js'),
    'ort-wasm-simd-threaded.asyncify.mjs': path.join(ortWeb, 'ort-wasm-simd-threaded.asyncify.mjs'),
    'ort-wasm-simd-threaded.asyncify.wasm': path.join(ortWeb, 'ort-wasm-simd-threaded.asyncify.wasm'),
  };
}

/** The page and vendor files by URL path: staged/ when it is complete (packaged), else the sources. */
function appFiles(appDir) {
  const staged = path.join(appDir, 'staged');
  const page = { 'index.html': path.join(appDir, 'index.html'), 'bridge.mjs': path.join(appDir, 'bridge.mjs'), 'tasks.mjs': path.join(appDir, 'tasks.mjs') };
  if ([...VENDOR.map((n) => path.join('vendor', n)), 'renderer.js'].every((n) => fs.existsSync(path.join(staged, n)))) {
    return { ...page, 'renderer.js': path.join(staged, 'renderer.js'), ...Object.fromEntries(VENDOR.map((n) => [`vendor/${n}`, path.join(staged, 'vendor', n)])) };
  }
  const v = vendorSources(appDir);
  return { ...page, 'renderer.js': path.join(appDir, '..', 'renderer.js'), ...Object.fromEntries(VENDOR.map((n) => [`vendor/${n}`, v[n]])) };
}

/** A regular file inside `root` (symlinks resolved), or null. */
function inside(root, rel) {
  if (!rel || rel.split('/').some((p) => p === '..' || p === '.' || p === '' || p.includes('\\') || p.includes('\0'))) return null;
  try {
    const realRoot = fs.realpathSync(root);
    const real = fs.realpathSync(path.join(root, rel));
    if (!real.startsWith(realRoot + path.sep) || !fs.statSync(real).isFile()) return null;
    return real;
  } catch {
    return null;
  }
}

const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * resolve(method, url) -> { file, headers } to serve, or { status: 404 }. `models` maps a name
 * (classifier, discriminator, encoder) to an exported directory.
 */
function createResolver({ appDir, models, files = appFiles(appDir) }) {
  return function resolve(method, url) {
    const notFound = { status: 404 };
    let p;
    try {
      const u = new URL(url);
      if (method !== 'GET' || u.protocol !== 'app:' || u.host !== 'bundle') return notFound;
      p = decodeURIComponent(u.pathname).replace(/^\//, '');
    } catch {
      return notFound;
    }
    let file = null;
    if (own(files, p)) file = files[p];
    else if (p.startsWith('models/')) {
      const [, name, ...rest] = p.split('/');
      file = own(models, name) ? inside(models[name], rest.join('/')) : null;
    }
    if (!file || !fs.existsSync(file)) return notFound;
    return { file, headers: { ...HEADERS, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' } };
  };
}

module.exports = { createResolver, appFiles, vendorSources, VENDOR, HEADERS };
