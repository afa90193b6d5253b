'use strict';
/*
 * The model host: electra-node off the UI. Runs as an Electron utility process
 * (utilityProcess.fork, messages on process.parentPort) or as a plain Node child
 * (child_process.fork, messages on process.on('message')): the same file, so it is tested
 * without Electron (test/e2e/electron-host.test.ts).
 *
 * Request:  { id, op: 'classify' | 'detect' | 'embed' | 'info', model?: DIR, texts?: string[], text?: string,
 *             pooling?: 'mean' | 'cls', normalize?: boolean }   (electra-node's model.classify(),
 *             model.detectReplaced() and model.embed())
 * Answer:   { id, ok: true, result } or { id, ok: false, error: { code, message } }
 * DIR is a Hugging Face directory (config.json, model.safetensors, vocab.txt or tokenizer.json).
 * Models are loaded on first use and kept. Answers hold plain arrays: fork() serializes as JSON.
 */
const { Electra, runtime, setNumThreads } = require('electra-node');

if (process.env.ELECTRA_THREADS) setNumThreads(Number(process.env.ELECTRA_THREADS));

const models = new Map(); // dir -> Promise<Electra>

function open(dir) {
  if (typeof dir !== 'string' || !dir) throw Object.assign(new Error('request.model must be a model directory'), { code: 'ERR_INPUT' });
  if (!models.has(dir)) {
    const p = Electra.load(dir); // the head from config.json, the tokenizer from the directory
    p.catch(() => models.delete(dir)); // a failed load is retried next time
    models.set(dir, p);
  }
  return models.get(dir);
}

const ops = {
  info: async () => {
    const r = runtime();
    return { version: r.version, libtorch: r.libtorchVersion, threads: r.threads, platform: r.platform, node: r.nodeVersion, electron: process.versions.electron ?? null };
  },
  // [{ label, score, scores: { label: probability }, truncated }] (a sequence-classification model)
  classify: async ({ model, texts }) => (await open(model)).classify(texts),
  // { tokens: [{ token, offsets, probability, replaced }], truncated } (a discriminator)
  detect: async ({ model, text }) => (await open(model)).detectReplaced(text),
  // one number[] per text (any ELECTRA model); Float32Arrays become arrays for the channel
  embed: async ({ model, texts, pooling = 'mean', normalize = true }) => {
    const e = await (await open(model)).embed(texts, { pooling, normalize });
    return Array.from(e, (v) => Array.from(v));
  },
};

async function handle(req) {
  const id = req && req.id;
  try {
    const op = ops[req && req.op];
    if (!op) throw Object.assign(new Error(`unknown op ${JSON.stringify(req && req.op)}`), { code: 'ERR_INPUT' });
    return { id, ok: true, result: await op(req) };
  } catch (e) {
    return { id, ok: false, error: { code: e.code ?? 'ERR_INTERNAL', message: e.message } };
  }
}

// Requests are answered one at a time, in order.
let chain = Promise.resolve();
function serve(send) {
  return (req) => {
    chain = chain.then(() => handle(req)).then(send).catch((e) => console.error('model-host: cannot answer:', e.message));
  };
}

if (process.parentPort) {
  // Electron utility process
  process.parentPort.on('message', (e) => serve((m) => process.parentPort.postMessage(m))(e.data));
} else if (process.send) {
  // child_process.fork (plain Node; the test)
  process.on('message', serve((m) => process.send(m)));
  process.on('disconnect', () => process.exit(0));
} else {
  console.error('model-host.js runs as a utility process or a forked child, not on its own');
  process.exit(1);
}
