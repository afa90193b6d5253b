'use strict';
// The page: no Node, no electra-node; only window.electra (preload.js, or onnx-bridge.mjs in the ONNX mode).
const $ = (id) => document.getElementById(id);
const lines = () => $('text').value.split('\n').map((s) => s.trim()).filter(Boolean);

function show(answer, render) {
  $('tokens').textContent = '';
  if (!answer.ok) return ($('out').textContent = `${answer.error.code}: ${answer.error.message}`);
  $('out').textContent = render ? render(answer.result) : JSON.stringify(answer.result, null, 2);
}

async function run(button, fn) {
  button.disabled = true;
  const t0 = performance.now();
  try {
    await fn();
    $('status').textContent = `done in ${(performance.now() - t0).toFixed(0)} ms`;
  } finally {
    button.disabled = false;
  }
}

$('classify').onclick = (e) =>
  run(e.target, async () => {
    const texts = lines();
    show(await window.electra.classify(texts), (r) => r.map((x, i) => `${x.label} (${x.score.toFixed(3)})  ${texts[i]}`).join('\n'));
  });

$('detect').onclick = (e) =>
  run(e.target, async () => {
    const answer = await window.electra.detect(lines()[0] ?? '');
    show(answer, (r) => r.tokens.map((t) => `${t.token.padEnd(16)} ${t.probability.toFixed(3)}${t.replaced ? '  replaced' : ''}`).join('\n'));
    if (!answer.ok) return;
    for (const t of answer.result.tokens) {
      const span = document.createElement('span');
      span.textContent = t.token + ' ';
      if (t.replaced) span.className = 'replaced';
      $('tokens').append(span);
    }
  });

$('embed').onclick = (e) =>
  run(e.target, async () => {
    const texts = lines();
    show(await window.electra.embed(texts), (vecs) => {
      // the vectors are L2-normalised: cosine similarity is the dot product
      const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      const rows = texts.map((t, i) => `${vecs.map((v) => dot(vecs[i], v).toFixed(3)).join('  ')}   ${t}`);
      return `${vecs.length} vectors of ${vecs[0].length}; cosine similarities:\n${rows.join('\n')}`;
    });
  });

window.electra.info().then((a) => {
  if (!a.ok) return ($('status').textContent = `model host: ${a.error.message}`);
  const rt = a.result.runtime ?? `electra-node ${a.result.version}, libtorch ${a.result.libtorch}`; // ONNX mode: transformers.js, no libtorch
  $('status').textContent = `${rt}, ${a.result.threads} threads, Electron ${a.result.electron}`;
});
