/*
 * The ONNX mode's model calls: the operations of model-host.js (classify, detect, embed, info)
 * done with transformers.js on models written by `electra export`, answering with the same
 * result shapes, so renderer.js works unchanged in both modes. No Node, no Electron: the
 * renderer imports it (bridge.mjs), and the test runs it in Node with transformers.js'
 * Node build (test/e2e/electron-onnx.test.ts).
 *
 * createOnnxOps(T, { models, dtype }) with T the transformers.js module (env already set) and
 * models the names of the exported directories under env.localModelPath:
 *   classify  an `electra export` of a sequence classifier            (text-classification)
 *   detect    an export of a discriminator (ElectraForPreTraining)     (the raw model: logits)
 *   embed     an export with --head none (last_hidden_state)           (feature-extraction)
 * dtype 'q8' loads onnx/model_quantized.onnx, 'fp32' onnx/model.onnx.
 */
export function createOnnxOps(T, { models, dtype = 'q8' }) {
  const cache = new Map();
  const once = (key, make) => {
    if (!cache.has(key)) {
      const p = make();
      p.catch(() => cache.delete(key)); // a failed load is retried next time
      cache.set(key, p);
    }
    return cache.get(key);
  };
  const need = (op) => {
    const name = models[op];
    if (!name) throw Object.assign(new Error(`no model for ${op}`), { code: 'ERR_INPUT' });
    return name;
  };
  const texts = (x) => {
    if (!Array.isArray(x) || x.length === 0 || !x.every((t) => typeof t === 'string')) throw Object.assign(new Error('texts must be a non-empty array of strings'), { code: 'ERR_INPUT' });
    return x;
  };
  return {
    info: async () => ({
      runtime: `transformers.js ${T.env.version}, onnxruntime-web ${T.env.backends?.onnx?.versions?.web ?? '?'} (wasm), ${dtype}`,
      threads: T.env.backends?.onnx?.wasm?.numThreads ?? 1,
      electron: globalThis.navigator?.userAgent?.match(/Electron\/(\S+)/)?.[1] ?? null,
    }),
    // [{ label, score }]
    classify: async ({ texts: xs }) => {
      const pipe = await once('classify', () => T.pipeline('text-classification', need('classify'), { dtype }));
      return pipe(texts(xs));
    },
    // { tokens: [{ token, probability, replaced }] }: the sigmoid of the discriminator's logit per token
    detect: async ({ text }) => {
      if (typeof text !== 'string' || !text) throw Object.assign(new Error('text must be a non-empty string'), { code: 'ERR_INPUT' });
      const name = need('detect');
      const [tok, model] = await Promise.all([once('detect-tok', () => T.AutoTokenizer.from_pretrained(name)), once('detect-model', () => T.AutoModel.from_pretrained(name, { dtype }))]);
      const inputs = tok(text, { truncation: true });
      const { logits } = await model(inputs);
      const ids = inputs.input_ids.tolist()[0];
      return {
        tokens: ids.map((id, i) => {
          const probability = 1 / (1 + Math.exp(-logits.data[i]));
          return { token: tok.decode([id]), probability, replaced: probability > 0.5 };
        }),
      };
    },
    // one number[] per text, mean-pooled and L2-normalised by default (as model-host.js)
    embed: async ({ texts: xs, pooling = 'mean', normalize = true }) => {
      const pipe = await once('embed', () => T.pipeline('feature-extraction', need('embed'), { dtype }));
      return (await pipe(texts(xs), { pooling, normalize })).tolist();
    },
  };
}
