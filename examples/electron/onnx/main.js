'use strict';
/*
 * Electron main process of the ONNX mode (`npm start` in this folder, or the packaged app of
 * `npm run dist`): no utility process, no electra-node, no libtorch. The page runs models
 * exported by `electra export` with transformers.js and onnxruntime-web (WebAssembly) itself
 * (bridge.mjs); this process only serves the page, the library and the models over an
 * app:// protocol (files.js) to a sandboxed, context-isolated window.
 *
 * Model directories (`electra export --quantize q8` output; the mode loads model_quantized.onnx,
 * ELECTRA_ONNX_DTYPE=fp32 loads model.onnx):
 *   ELECTRA_ONNX_CLASSIFIER     a sequence classifier            (classify)
 *   ELECTRA_ONNX_DISCRIMINATOR  a discriminator                  (detect)
 *   ELECTRA_ONNX_ENCODER        an export with --head none       (embed)
 * Default: models-onnx/{classifier,discriminator,encoder} next to this file, or in
 * resources/models-onnx when packaged.
 */
const path = require('node:path');
const { app, BrowserWindow, net, protocol } = require('electron');
const { pathToFileURL } = require('node:url');
const { createResolver } = require('./files');

protocol.registerSchemesAsPrivileged([{ scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, stream: true } }]);

const modelsRoot = app.isPackaged ? path.join(process.resourcesPath, 'models-onnx') : path.join(__dirname, 'models-onnx');
const models = {
  classifier: process.env.ELECTRA_ONNX_CLASSIFIER ?? path.join(modelsRoot, 'classifier'),
  discriminator: process.env.ELECTRA_ONNX_DISCRIMINATOR ?? path.join(modelsRoot, 'discriminator'),
  encoder: process.env.ELECTRA_ONNX_ENCODER ?? path.join(modelsRoot, 'encoder'),
};

app.whenReady().then(() => {
  const resolve = createResolver({ appDir: __dirname, models });
  protocol.handle('app', async (req) => {
    const r = resolve(req.method, req.url);
    if (!r.file) return new Response('not found', { status: 404 });
    const res = await net.fetch(pathToFileURL(r.file).href);
    return new Response(res.body, { status: 200, headers: r.headers });
  });
  const win = new BrowserWindow({
    width: 900,
    height: 700,
    webPreferences: { contextIsolation: true, sandbox: true, nodeIntegration: false },
  });
  const dtype = process.env.ELECTRA_ONNX_DTYPE === 'fp32' ? 'fp32' : 'q8';
  win.loadURL(`app://bundle/index.html?dtype=${dtype}`);
});

app.on('window-all-closed', () => app.quit());
