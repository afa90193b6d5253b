'use strict';
/*
 * Electron main process: one window, and electra-node in a utility process (model-host.js), so
 * that neither loading libtorch nor a forward pass ever blocks the UI. The page asks through the
 * preload's `window.electra` (ipcRenderer.invoke); this file forwards each request to the host
 * and resolves it with the host's answer.
 *
 * Model directories (Hugging Face format with vocab.txt or tokenizer.json):
 *   ELECTRA_CLASSIFIER  an ElectraForSequenceClassification   (classify)
 *   ELECTRA_DISCRIMINATOR  an ElectraForPreTraining           (detect)
 *   ELECTRA_ENCODER     any ELECTRA model (the body is used)  (embed; defaults to the discriminator)
 * Packaged, they default to resources/models/{classifier,discriminator} (see README.md).
 */
const path = require('node:path');
const { app, BrowserWindow, ipcMain, utilityProcess } = require('electron');

const modelsRoot = app.isPackaged ? path.join(process.resourcesPath, 'models') : path.join(__dirname, 'models');
const MODELS = {
  classify: process.env.ELECTRA_CLASSIFIER ?? path.join(modelsRoot, 'classifier'),
  detect: process.env.ELECTRA_DISCRIMINATOR ?? path.join(modelsRoot, 'discriminator'),
  embed: process.env.ELECTRA_ENCODER ?? process.env.ELECTRA_DISCRIMINATOR ?? path.join(modelsRoot, 'discriminator'),
};

let host = null;
let nextId = 1;
const pending = new Map(); // id -> { resolve }

function startHost() {
  host = utilityProcess.fork(path.join(__dirname, 'model-host.js'), [], {
    serviceName: 'electra-model-host',
    stdio: 'inherit',
    env: { ...process.env, ELECTRA_THREADS: process.env.ELECTRA_THREADS ?? '2' },
  });
  host.on('message', (m) => {
    const p = pending.get(m.id);
    if (p) pending.delete(m.id), p.resolve(m);
  });
  host.on('exit', (code) => {
    for (const p of pending.values()) p.resolve({ ok: false, error: { code: 'ERR_HOST', message: `model host exited (${code})` } });
    pending.clear();
    host = null; // restarted on the next request
  });
}

function ask(req) {
  if (!host) startHost();
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, { resolve });
    host.postMessage({ ...req, id });
  });
}

// The page may only name an operation and give text; the model paths stay here.
ipcMain.handle('electra:classify', (_e, texts) => ask({ op: 'classify', model: MODELS.classify, texts }));
ipcMain.handle('electra:detect', (_e, text) => ask({ op: 'detect', model: MODELS.detect, text }));
ipcMain.handle('electra:embed', (_e, texts) => ask({ op: 'embed', model: MODELS.embed, texts, pooling: 'mean', normalize: true }));
ipcMain.handle('electra:info', () => ask({ op: 'info' }));

app.whenReady().then(() => {
  startHost();
  const win = new BrowserWindow({
    width: 900,
    height: 700,
    webPreferences: { preload: path.join(__dirname, 'preload.js'), contextIsolation: true, sandbox: true, nodeIntegration: false },
  });
  win.loadFile(path.join(__dirname, 'index.html'));
});

app.on('window-all-closed', () => {
  if (host) host.kill();
  app.quit();
});
