#!/usr/bin/env node
// What the spam-assassin e-mails look like to a tokenizer (the figures behind the README's
// fine-tuning quality notes): tokens per e-mail (median, mean), how many fit one 128-token
// window, and the share of [UNK] tokens, over the training split (seed 42, as the quality bench).
// usage: node bench/spam-token-stats.cjs [TOKENIZER_DIR (default runs/demo/tokenizer)]
const path = require('node:path');
const ROOT = path.resolve(__dirname, '..');
const e = require(path.join(ROOT, 'dist', 'index.cjs'));

async function main() {
  const dir = path.resolve(process.argv[2] ?? path.join(ROOT, 'runs', 'demo', 'tokenizer'));
  const tok = e.ElectraTokenizer.load(dir);
  const { train } = e.loadSpamAssassin({ seed: 42 });
  const lens = [];
  let unk = 0, total = 0, unkFirst = 0, totalFirst = 0;
  for (let i = 0; i < train.length; i += 256) {
    const enc = await tok.encodeBatch(train.slice(i, i + 256).map((x) => x.text));
    for (const x of enc) {
      const body = x.ids.slice(1, -1);
      lens.push(body.length);
      body.forEach((id, k) => {
        const u = id === tok.unkId ? 1 : 0;
        unk += u;
        total++;
        if (k < 126) (unkFirst += u), totalFirst++;
      });
    }
  }
  lens.sort((a, b) => a - b);
  const mean = lens.reduce((a, b) => a + b, 0) / lens.length;
  console.log(`tokenizer ${path.relative(ROOT, dir) || dir}; ${train.length} training e-mails`);
  console.log(`text tokens per e-mail: median ${lens[lens.length >> 1]}, mean ${mean.toFixed(0)}, 90th percentile ${lens[Math.floor(lens.length * 0.9)]}`);
  console.log(`e-mails that fit one 128-token window (126 text tokens): ${(100 * lens.filter((n) => n <= 126).length / lens.length).toFixed(1)}%; four windows: ${(100 * lens.filter((n) => n <= 504).length / lens.length).toFixed(1)}%`);
  console.log(`[UNK]: ${(100 * unk / total).toFixed(1)}% of all text tokens, ${(100 * unkFirst / totalFirst).toFixed(1)}% of the first 126 of each e-mail`);
}
main().catch((err) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
