#!/usr/bin/env node
/**
 * Data pipeline benchmark on the built-in SOTU corpus (not a test):
 *   node bench/prepare.bench.cjs
 * - `prepare` end to end (vocabulary trained first, 30,522 tokens; max length 128), tokens/s,
 *   tokenization in-thread vs 1 and 2 worker threads (target: the whole corpus < 30 s on 2 cores);
 * - loader throughput from the prepared shards, memory and pread modes, batch 128
 *   (target >= 10M tokens/s).
 * It bundles src/ with esbuild into node_modules/.cache/electra-bench (so it needs no `npm run
 * build` and leaves dist/ alone) and prints one line per figure.
 */
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { buildSync } = require('esbuild');

const root = path.join(__dirname, '..');
const cache = path.join(root, 'node_modules', '.cache', 'electra-bench');
fs.mkdirSync(cache, { recursive: true });
const common = { bundle: true, platform: 'node', format: 'cjs', external: ['tokenizers', '@stdlib/*'], logLevel: 'error', target: 'node20' };
buildSync({ ...common, entryPoints: [path.join(root, 'src/data/worker.ts')], outfile: path.join(cache, 'worker.cjs') });
fs.writeFileSync(path.join(cache, 'entry.ts'), `export * from '${path.join(root, 'src/data/index.ts')}';\nexport * from '${path.join(root, 'src/tokenizer/index.ts')}';\n`);
buildSync({ ...common, entryPoints: [path.join(cache, 'entry.ts')], outfile: path.join(cache, 'lib.cjs') });
const lib = require(path.join(cache, 'lib.cjs'));

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-bench-'));
  const out = [];
  const say = (s) => {
    out.push(s);
    console.log(s);
  };
  say(`machine: ${os.cpus()[0].model}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  let t0 = Date.now();
  const v = await lib.trainVocabulary('sotu', { size: 30522 });
  say(`vocab: 30522 tokens (${v.merges} learned, ${v.fillers} fillers) in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  const tok = v.tokenizer;
  const workerPath = path.join(cache, 'worker.cjs');
  let last;
  for (const workers of [0, 1, 2]) {
    const dir = path.join(tmp, `w${workers}`);
    const r = await lib.prepare({ corpus: 'sotu', tokenizer: tok, out: dir, maxLength: 128, workers, workerPath, progress: false });
    say(`prepare sotu, ${workers ? `${workers} worker thread(s)` : 'in-thread'}: ${r.seconds.toFixed(2)} s, ${Math.round(r.tokensPerSecond).toLocaleString('en-US')} input tokens/s, ${r.meta.counts.examples} examples, ${r.meta.counts.inputTokens} tokens`);
    if (last) {
      const a = fs.readFileSync(path.join(last, 'shard-00000.bin'));
      const b = fs.readFileSync(path.join(dir, 'shard-00000.bin'));
      if (!a.equals(b)) throw new Error('output differs between worker counts');
    }
    last = dir;
  }
  for (const mode of ['memory', 'pread']) {
    const ds = lib.PretrainDataset.open(last, { mode });
    const loader = new lib.BatchLoader(ds, { batchSize: 128, seed: 1, prefetch: 8 });
    let tokens = 0;
    let n = 0;
    t0 = process.hrtime.bigint();
    for await (const b of loader) {
      tokens += b.inputIds.length;
      if (++n >= 1000) break;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    say(`loader ${mode}: ${n} batches [128, 128] in ${s.toFixed(2)} s = ${(tokens / s / 1e6).toFixed(1)}M tokens/s (peer: a GPU step at 1M tokens/s; ratio ${(tokens / s / 1e6).toFixed(1)}x)`);
    ds.close();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
