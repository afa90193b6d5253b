/*
 * The ONNX mode's renderer side: transformers.js (its browser bundle, with onnxruntime-web's
 * WebAssembly build) runs the exported models in the page itself, and this module gives the page
 * the same window.electra that preload.js gives it in the libtorch mode. Everything is served by
 * main.js's app:// protocol (files.js) from inside the application: the library, the .wasm and the
 * models; nothing is fetched from the network (env.allowRemoteModels = false, wasmPaths local).
 */
import * as T from './vendor/transformers.min.js';
import { createOnnxOps } from './tasks.mjs';

const params = new URLSearchParams(location.search);
T.env.allowRemoteModels = false;
T.env.allowLocalModels = true;
T.env.localModelPath = new URL('models/', location.href).href;
T.env.useBrowserCache = false; // no Cache Storage for app:// files: they are local already
T.env.useWasmCache = false;
const wasm = T.env.backends.onnx.wasm;
wasm.wasmPaths = {
  mjs: new URL('vendor/ort-wasm-simd-threaded.asyncify.mjs', location.href).href,
  wasm: new URL('vendor/ort-wasm-simd-threaded.asyncify.wasm', location.href).href,
};
// Threads need SharedArrayBuffer, which needs the cross-origin isolation main.js sets up.
wasm.numThreads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) >> 1)) : 1;

const ops = createOnnxOps(T, {
  models: { classify: 'classifier', detect: 'discriminator', embed: 'encoder' },
  dtype: params.get('dtype') ?? 'q8',
});

const answer = async (fn) => {
  try {
    return { ok: true, result: await fn() };
  } catch (e) {
    return { ok: false, error: { code: e.code ?? 'ERR_ONNX', message: e.message } };
  }
};

window.electra = {
  classify: (texts) => answer(() => ops.classify({ texts })),
  detect: (text) => answer(() => ops.detect({ text })),
  embed: (texts) => answer(() => ops.embed({ texts })),
  info: () => answer(() => ops.info()),
};
