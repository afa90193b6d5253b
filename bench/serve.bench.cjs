/*
 * electra serve: requests/s and p50/p99 latency at 1, 16 and 64 clients, short (8-32 words) and
 * long (~400 words) texts, /embed and /predict, batching on (default) against batching off
 * (--max-batch-requests 1), in one run on the same machine. The model is ELECTRA-Small-sized
 * (hidden 256, 12 layers, random weights: speed does not depend on them) with the test fixtures'
 * tokenizer. A bounded client of our own (keep-alive http.Agent, fixed duration per cell).
 *
 *   npx tsup && node bench/serve.bench.cjs [--seconds 5] [--threads N] [--clients 1,16,64]
 *
 * Then the streaming job against in-process embed on the same rows (--rows 20000).
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');
const { values } = parseArgs({ options: { seconds: { type: 'string' }, threads: { type: 'string' }, clients: { type: 'string' }, rows: { type: 'string' } } });
const SECONDS = Number(values.seconds ?? 5);
const THREADS = values.threads;
const CLIENTS = (values.clients ?? '1,16,64').split(',').map(Number);
const ROWS = Number(values.rows ?? 20000);
const WORDS = 'the people of this nation have built roads schools and hospitals while the congress debated taxes trade and the budget for every state'.split(' ');

function text(i, n) {
  let s = (i + 1) * 2654435761;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const w = [];
  for (let j = 0; j < n; j++) w.push(WORDS[Math.floor(r() * WORDS.length)]);
  return w.join(' ');
}
const SHORT = Array.from({ length: 512 }, (_, i) => text(i, 8 + (i % 25)));
const LONG = Array.from({ length: 64 }, (_, i) => text(i, 400));

async function makeModel(dir) {
  const { Electra } = require(path.join(ROOT, 'dist', 'index.cjs'));
  const m = await Electra.create(
    { vocab_size: 99, embedding_size: 128, hidden_size: 256, num_hidden_layers: 12, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 512, id2label: { 0: 'no', 1: 'yes' } },
    { head: 'sequence-classification', seed: 1 },
  );
  const tok = path.join(ROOT, 'test', 'fixtures', 'models', 'seqcls');
  await m.save(dir, { extraFiles: ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json'].map((f) => path.join(tok, f)) });
  m.dispose();
}

function startServer(dir, extra) {
  return new Promise((resolve, reject) => {
    const args = [CLI, 'serve', '--model', dir, '--port', '0', '--log-level', 'error', ...extra];
    if (THREADS) args.push('--threads', THREADS);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /"url":"(http:[^"]+)"/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
}

function request(agent, url, route, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(url + route, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function load(url, route, texts, clients) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const lat = [];
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  let k = 0;
  const body = (t) => (route === '/embed' ? { inputs: t, truncate: true } : { inputs: t, truncate: true });
  await request(agent, url, route, body(texts[0]));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t = texts[k++ % texts.length];
        const s = performance.now();
        const status = await request(agent, url, route, body(t));
        if (status === 200) lat.push(performance.now() - s);
        else errors++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { rps: lat.length / secs, p50: q(0.5) ?? NaN, p99: q(0.99) ?? NaN, n: lat.length, errors };
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-serve-bench-'));
  const dir = path.join(tmp, 'small');
  await makeModel(dir);
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  console.log(`electra serve benchmark  ${new Date().toISOString()}  commit ${commit}  ${os.cpus().length} x ${os.cpus()[0].model}  load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`model: ELECTRA-Small-sized (hidden 256, 12 layers, max 512 positions), random weights; ${SECONDS} s per cell; threads ${THREADS ?? 'default'}`);
  console.log('route      texts  clients | batching on: req/s   p50 ms   p99 ms | batching off: req/s   p50 ms   p99 ms | ratio');
  const modes = [
    ['on', []],
    ['off', ['--max-batch-requests', '1']],
  ];
  const servers = {};
  for (const [name, extra] of modes) servers[name] = await startServer(dir, extra);
  try {
    for (const route of ['/embed', '/predict']) {
      for (const [kind, texts] of [['short', SHORT], ['long', LONG]]) {
        for (const c of CLIENTS) {
          const on = await load(servers.on.url, route, texts, c);
          const off = await load(servers.off.url, route, texts, c);
          const f = (r) => `${r.rps.toFixed(1).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)}${r.errors ? ` (${r.errors} non-200)` : ''}`;
          console.log(`${route.padEnd(10)} ${kind.padEnd(6)} ${String(c).padStart(7)} |          ${f(on)} |           ${f(off)} | ${(on.rps / off.rps).toFixed(2)}x`);
        }
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.child.kill('SIGTERM');
  }
  // The streaming job against in-process embed on the same rows.
  const input = path.join(tmp, 'rows.jsonl');
  fs.writeFileSync(input, Array.from({ length: ROWS }, (_, i) => JSON.stringify({ id: i, text: SHORT[i % SHORT.length] })).join('\n') + '\n');
  const env = THREADS ? { ...process.env, OMP_NUM_THREADS: THREADS } : process.env;
  let t = performance.now();
  const job = spawnSync(process.execPath, [CLI, 'embed', '--model', dir, '--input', input, '--output', path.join(tmp, 'out.jsonl'), '--no-progress'], { env, encoding: 'utf8' });
  if (job.status !== 0) throw new Error(job.stderr);
  const jobSecs = (performance.now() - t) / 1000;
  const file = path.join(tmp, 'rows.txt');
  fs.writeFileSync(file, Array.from({ length: ROWS }, (_, i) => SHORT[i % SHORT.length]).join('\n') + '\n');
  t = performance.now();
  const plain = spawnSync(process.execPath, [CLI, 'embed', '--model', dir, '--file', file], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (plain.status !== 0) throw new Error(plain.stderr);
  const plainSecs = (performance.now() - t) / 1000;
  console.log(`streaming job: ${ROWS} rows in ${jobSecs.toFixed(1)} s (${(ROWS / jobSecs).toFixed(0)} rows/s); electra embed --file on the same rows: ${plainSecs.toFixed(1)} s (${(ROWS / plainSecs).toFixed(0)} rows/s); ratio ${(plainSecs / jobSecs).toFixed(2)}x (both include process start and model load)`);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
