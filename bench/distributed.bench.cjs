#!/usr/bin/env node
// Data-parallel scaling on this machine: the same pre-training job (global batch, steps, model)
// as 1 process with T threads and as N processes (electra launch, c10d + Gloo over 127.0.0.1)
// with T/N threads each, in one run. Prints tokens/s of both and the ratio.
// usage: node bench/distributed.bench.cjs [--nproc 2] [--preset small] [--batch 16] [--steps 6] [--threads 2]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchArgs } = require('./args.cjs');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');
const v = benchArgs(__filename, { nproc: { type: 'string' }, preset: { type: 'string' }, batch: { type: 'string' }, steps: { type: 'string' }, threads: { type: 'string' } });
const nproc = Number(v.nproc ?? 2), preset = v.preset ?? 'small', batch = Number(v.batch ?? 16), steps = Number(v.steps ?? 6);
const threads = Number(v.threads ?? os.cpus().length);

async function main() {
  const e = require(path.join(ROOT, 'dist', 'index.cjs'));
  if (!e.runtime().buildFlags.includes('gloo')) throw new Error('this build has no distributed support (apt install libgloo-dev; npm run build:native)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-dist-bench-'));
  try {
    const words = 'the people of this nation have built roads schools and hospitals while the congress debated taxes trade and the budget for every state in the union'.split(' ');
    let s = 1;
    const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    const docs = [];
    for (let d = 0; d < 400; d++) {
      const sent = [];
      for (let i = 0; i < 12; i++) sent.push(Array.from({ length: 12 }, () => words[Math.floor(r() * words.length)]).join(' ') + '.');
      docs.push(sent.join(' '));
    }
    fs.writeFileSync(path.join(dir, 'corpus.txt'), docs.join('\n\n'));
    const run = (args) => {
      const t = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env } });
      if (t.status !== 0) throw new Error(`electra ${args.join(' ')} failed:\n${t.stderr}`);
      return t.stdout + t.stderr;
    };
    run(['vocab', '--corpus', path.join(dir, 'corpus.txt'), '--size', '2000', '--out', path.join(dir, 'tok')]);
    run(['prepare', '--corpus', path.join(dir, 'corpus.txt'), '--vocab', path.join(dir, 'tok'), '--max-len', '128', '--out', path.join(dir, 'data')]);
    const job = (out, b, th) => ['pretrain', '--data', path.join(dir, 'data'), '--tokenizer', path.join(dir, 'tok'), '--out', out, '--preset', preset, '--steps', String(steps), '--batch', String(b), '--eval-every', '0', '--save-every', '0', '--no-progress', '--threads', String(th)];
    const tps = (text) => {
      const m = /pretrained steps \d+\.\.\d+ in ([\d.]+) s \((\d+) tokens\/s\)/.exec(text);
      if (!m) throw new Error(`no summary line in:\n${text}`);
      return { seconds: Number(m[1]), tps: Number(m[2]) };
    };
    const one = tps(run(job(path.join(dir, 'one'), batch, threads)));
    const many = tps(run(['launch', '--nproc', String(nproc), '--threads', String(Math.max(1, Math.floor(threads / nproc))), '--', ...job(path.join(dir, 'many'), batch / nproc, Math.max(1, Math.floor(threads / nproc)))]));
    console.log(`preset ${preset}, global batch ${batch} x 128, ${steps} steps (first step included), ${os.cpus().length} cores`);
    console.log(`1 process x ${threads} threads:            ${one.tps} tokens/s (${one.seconds} s)`);
    console.log(`${nproc} processes x ${Math.max(1, Math.floor(threads / nproc))} threads (Gloo):  ${many.tps} tokens/s (${many.seconds} s)`);
    console.log(`scaling ${nproc}/1: ${(many.tps / one.tps).toFixed(2)}x`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
