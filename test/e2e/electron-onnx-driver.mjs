// Runs the Electron example's ONNX-mode operations (examples/electron/onnx/tasks.mjs) in Node with
// transformers.js' Node build, as the renderer runs them with its browser build; prints one JSON
// line. Used by test/e2e/electron-onnx.test.ts (jest's CommonJS mode cannot import ES modules).
//   node electron-onnx-driver.mjs MODELS_ROOT DTYPE TEXTS_JSON
import * as T from '@huggingface/transformers';
import { createOnnxOps } from '../../examples/electron/onnx/tasks.mjs';

const [root, dtype, textsJson] = process.argv.slice(2);
T.env.allowRemoteModels = false;
T.env.allowLocalModels = true;
T.env.localModelPath = root.endsWith('/') ? root : `${root}/`;
const ops = createOnnxOps(T, { models: { classify: 'classifier', detect: 'discriminator', embed: 'encoder' }, dtype });
const texts = JSON.parse(textsJson);
const out = {
  info: await ops.info(),
  classify: await ops.classify({ texts }),
  detect: [],
  embed: await ops.embed({ texts }),
};
for (const text of texts) out.detect.push(await ops.detect({ text }));
try {
  await ops.classify({ texts: [] });
} catch (e) {
  out.badInput = e.code;
}
console.log(JSON.stringify(out));
