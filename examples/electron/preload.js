'use strict';
// The page's only door to the model: four calls, each answered by the model host
// ({ ok: true, result } or { ok: false, error: { code, message } }).
const { contextBridge, ipcRenderer } = require('electron');

contextBridge.exposeInMainWorld('electra', {
  classify: (texts) => ipcRenderer.invoke('electra:classify', texts),
  detect: (text) => ipcRenderer.invoke('electra:detect', text),
  embed: (texts) => ipcRenderer.invoke('electra:embed', texts),
  info: () => ipcRenderer.invoke('electra:info'),
});
