/* electra serve over real HTTP on 127.0.0.1: every route against the direct call, batching, limits, errors, shutdown. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { setNumThreads } from '../../src/runtime';
import { createServer, type ElectraServer } from '../../src/serve/server';
import { Batcher } from '../../src/serve/batcher';
import { classify } from '../../src/infer/classify';
import { embed } from '../../src/infer/embed';
import { detectBatch } from '../../src/infer/detect';
import { tagTokens } from '../../src/infer/tag';
import { answer } from '../../src/infer/qa';
import { diff, FIX, get, parsePrometheus, plain, post, sleep, slowClassifier, TEXTS, textOf } from './serve-helpers';

// One libtorch thread: on a shared 2-core machine more threads oversubscribe the cores.
beforeAll(() => setNumThreads(1));

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const LONG = TEXTS[5]!; // longer than the fixtures' 40 positions
const SHORT = TEXTS.filter((t) => t !== LONG);

async function serve(dir: string, opts: Partial<Parameters<typeof createServer>[0]> = {}): Promise<{ s: ElectraServer; url: string; model: Electra }> {
  const model = await Electra.load(path.join(FIX, dir));
  const s = await createServer({ model, logger: false, processMetrics: false, ...opts });
  const url = await s.listen({ port: 0 });
  return { s, url, model };
}

async function stop(x: { s: ElectraServer; model: Electra }): Promise<void> {
  await x.s.close();
  x.model.dispose();
}

describe('every route equals the direct call', () => {
  test('sequence classification: /predict, /rerank, /embed, /v1/embeddings, /tokenize', async () => {
    const x = await serve('seqcls');
    try {
      const { url, model } = x;
      // /predict: a text, a pair, a batch
      const one = await post(url, '/predict', { inputs: SHORT[0] });
      expect(one.status).toBe(200);
      const [c0] = await classify(model, SHORT[0]!);
      const sorted = (s: Record<string, number>) => Object.entries(s).map(([label, score]) => ({ label, score })).sort((a, b) => b.score - a.score);
      expect(diff(one.body, sorted(c0!.scores))).toBe('');
      const batch = await post(url, '/predict', { inputs: [[SHORT[1]], [SHORT[2], SHORT[3]]] });
      const direct = await classify(model, [SHORT[1]!, [SHORT[2]!, SHORT[3]!]]);
      expect(diff(batch.body, direct.map((c) => sorted(c.scores)))).toBe('');
      const pair = await post(url, '/predict', { inputs: [SHORT[2], SHORT[3]] });
      expect(diff(pair.body, sorted(direct[1]!.scores))).toBe('');
      const raw = await post(url, '/predict', { inputs: SHORT[0], raw_scores: true });
      const tok = model.tokenizer!;
      const enc = await tok.encode(SHORT[0]!);
      const f = await model.forward({ inputIds: Int32Array.from(enc.ids), shape: [1, enc.ids.length] });
      expect(diff(raw.body, Array.from(f.classification!.data, (score, k) => ({ label: ['negative', 'neutral', 'positive'][k], score })).sort((a, b) => b.score - a.score))).toBe('');
      // /rerank: softmax probability of the last label over (query, text) pairs, sorted
      const rr = await post(url, '/rerank', { query: 'who lives in Paris', texts: SHORT.slice(0, 4), return_text: true });
      expect(rr.status).toBe(200);
      const pairs = await classify(model, SHORT.slice(0, 4).map((t) => ['who lives in Paris', t] as [string, string]));
      const want = pairs.map((c, index) => ({ index, score: c.scores.positive!, text: SHORT[index] })).sort((a, b) => b.score - a.score);
      expect(diff(rr.body, want)).toBe('');
      // /embed (TEI defaults: normalize true, truncate false)
      const e = await post(url, '/embed', { inputs: SHORT });
      expect(diff(e.body, plain(await embed(model, SHORT, { normalize: true })))).toBe('');
      const e2 = await post(url, '/embed', { inputs: SHORT[0], normalize: false });
      expect(diff(e2.body, plain(await embed(model, [SHORT[0]!])))).toBe('');
      // /v1/embeddings
      const o = await post(url, '/v1/embeddings', { input: SHORT.slice(0, 2), model: 'm' });
      const oe = await embed(model, SHORT.slice(0, 2), { normalize: true });
      const count = (await tok.encodeBatch(SHORT.slice(0, 2))).reduce((s, x) => s + x.ids.length, 0);
      expect(diff(o.body, { object: 'list', model: 'm', data: oe.map((v, index) => ({ object: 'embedding', index, embedding: Array.from(v) })), usage: { prompt_tokens: count, total_tokens: count } })).toBe('');
      const b64 = await post(url, '/v1/embeddings', { input: SHORT[0], encoding_format: 'base64' });
      const bytes = Buffer.from(b64.body.data[0].embedding as string, 'base64');
      expect(diff(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)), Array.from(oe[0]!))).toBe('');
      // /tokenize
      const t = await post(url, '/tokenize', { inputs: [SHORT[0], SHORT[2]] });
      const te = await tok.encodeBatch([SHORT[0]!, SHORT[2]!]);
      expect(t.body.map((r: { id: number }[]) => r.map((x) => x.id))).toEqual(te.map((x) => x.ids));
      expect(t.body[0][1]).toEqual({ id: te[0]!.ids[1], text: SHORT[0]!.slice(te[0]!.offsets[1]![0], te[0]!.offsets[1]![1]), special: false, start: te[0]!.offsets[1]![0], stop: te[0]!.offsets[1]![1] });
      // a route of another head
      const wrong = await post(url, '/tag', { inputs: 'x' });
      expect([wrong.status, wrong.body.code]).toEqual([404, 'ERR_CHECKPOINT']);
      const info = await get(url, '/info');
      expect(info.body).toMatchObject({ head: 'sequence-classification', labels: ['negative', 'neutral', 'positive'], max_input_length: 40, routes: expect.arrayContaining(['/predict', '/rerank']) });
      expect((await get(url, '/health')).body).toEqual({ status: 'ok' });
    } finally {
      await stop(x);
    }
  });

  test('/tag, /answer, /detect', async () => {
    for (const [dir, route] of [['tokcls', '/tag'], ['qa', '/answer'], ['disc-proj', '/detect']] as const) {
      const x = await serve(dir);
      try {
        const { url, model } = x;
        if (route === '/tag') {
          const r = await post(url, route, { inputs: SHORT.slice(0, 3) });
          expect(diff(r.body, plain(await tagTokens(model, SHORT.slice(0, 3))))).toBe('');
        } else if (route === '/answer') {
          const items = [
            { question: 'Who lives in Paris?', context: 'John lives in Paris and Mary works in London.' },
            { question: 'Where?', context: SHORT[2]! },
          ];
          const r = await post(url, route, { inputs: items });
          expect(diff(r.body, plain(await answer(model, items)))).toBe('');
          const r1 = await post(url, route, { inputs: items[0] });
          expect(diff(r1.body, plain((await answer(model, [items[0]!]))[0]))).toBe('');
        } else {
          const r = await post(url, route, { inputs: SHORT.slice(0, 3), threshold: 0.4 });
          expect(diff(r.body, plain(await detectBatch(model, undefined, SHORT.slice(0, 3), { threshold: 0.4 })))).toBe('');
        }
        expect((await post(url, '/embed', { inputs: SHORT[1] })).status).toBe(200);
      } finally {
        await stop(x);
      }
    }
  });
});

describe('batching', () => {
  test('200 concurrent clients: each response equals its direct call, and requests were merged', async () => {
    const x = await serve('seqcls');
    const rows: number[] = [];
    const prev = x.s.batcher.onBatch;
    x.s.batcher.onBatch = (b) => {
      rows.push(b.calls);
      prev?.(b);
    };
    try {
      const texts = Array.from({ length: 200 }, (_, i) => textOf(i, 10));
      const rs = await Promise.all(texts.map((t, i) => (i % 2 ? post(x.url, '/predict', { inputs: t, truncate: true }) : post(x.url, '/embed', { inputs: t, truncate: true }))));
      for (let i = 0; i < texts.length; i++) {
        expect(rs[i]!.status).toBe(200);
        const want = i % 2 ? Object.entries((await classify(x.model, texts[i]!))[0]!.scores).map(([label, score]) => ({ label, score })).sort((a, b) => b.score - a.score) : plain(await embed(x.model, [texts[i]!], { normalize: true, truncation: true }));
        expect(diff(rs[i]!.body, want)).toBe('');
      }
      expect(rows.reduce((a, b) => a + b, 0)).toBe(200);
      expect(Math.max(...rows)).toBeGreaterThan(1);
    } finally {
      await stop(x);
    }
  });

  test('Batcher in process: concurrent embed and classify equal the direct calls; bounds hold', async () => {
    const model = await Electra.load(path.join(FIX, 'seqcls'));
    try {
      const b = new Batcher(model, { maxBatchTokens: 200, maxBatchRequests: 4, maxWaitMs: 5 });
      const seen: { rows: number; paddedTokens: number; calls: number }[] = [];
      b.onBatch = (i) => seen.push(i);
      const texts = Array.from({ length: 40 }, (_, i) => textOf(i, 12));
      const got = await Promise.all(texts.map((t, i) => (i % 3 ? b.embed([t, LONG], { truncation: true }) : b.classify(t))));
      for (let i = 0; i < texts.length; i++) {
        const want = i % 3 ? await embed(model, [texts[i]!, LONG], { truncation: true }) : await classify(model, texts[i]!);
        expect(diff(plain(got[i]), plain(want))).toBe('');
      }
      for (const s of seen) {
        expect(s.paddedTokens).toBeLessThanOrEqual(200);
        expect(s.calls).toBeLessThanOrEqual(4);
      }
      expect(seen.some((s) => s.calls > 1)).toBe(true);
      expect(() => new Batcher(model, { maxBatchTokens: 10 })).toThrow(/max_position_embeddings/);
    } finally {
      model.dispose();
    }
  });

  test('one client: dispatched at once (no wait for a batch to fill)', async () => {
    const model = await Electra.load(path.join(FIX, 'seqcls'));
    try {
      const b = new Batcher(model, { maxWaitMs: 2000 });
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) await b.embed(textOf(i));
      expect(performance.now() - t0).toBeLessThan(2000);
    } finally {
      model.dispose();
    }
  });
});

describe('limits and errors', () => {
  test('bad requests: malformed JSON 400, wrong types / empty / too many inputs / too long 422, 413', async () => {
    const x = await serve('seqcls', { maxClientBatchSize: 4, payloadLimit: 2000 });
    try {
      const { url, model } = x;
      const bad = await post(url, '/embed', null, { raw: '{"inputs": ["a",' });
      expect([bad.status, bad.body.code]).toEqual([400, 'ERR_INPUT']);
      for (const body of [{ inputs: 5 }, { inputs: [1, 2] }, { inputs: 'a', normalize: 'yes' }, {}, { inputs: 'a', extra: 1 }]) {
        const r = await post(url, '/embed', body);
        expect([r.status, r.body.code, typeof r.body.error]).toEqual([422, 'ERR_INPUT', 'string']);
      }
      for (const body of [{ inputs: [] }, { inputs: '' }, { inputs: ['a', '   '] }]) {
        const r = await post(url, '/embed', body);
        expect([r.status, r.body.code]).toEqual([422, 'ERR_INPUT']);
      }
      const many = await post(url, '/embed', { inputs: ['a', 'b', 'c', 'd', 'e'] });
      expect([many.status, many.body.code]).toEqual([422, 'ERR_INPUT']);
      expect(many.body.error).toMatch(/max-client-batch-size 4/);
      const big = await post(url, '/embed', { inputs: 'x'.repeat(3000) });
      expect([big.status, big.body.code]).toEqual([413, 'ERR_INPUT']);
      // over the max length: truncate false (default) refuses, true cuts as the direct call does
      const no = await post(url, '/embed', { inputs: LONG });
      expect([no.status, no.body.code]).toEqual([422, 'ERR_INPUT']);
      expect(no.body.error).toMatch(/more than the maximum 40/);
      const yes = await post(url, '/embed', { inputs: LONG, truncate: true });
      expect(diff(yes.body, plain(await embed(model, [LONG], { normalize: true, truncation: true })))).toBe('');
      const p = await post(url, '/predict', { inputs: LONG, truncate: true });
      expect(p.status).toBe(200);
      const rr = await post(url, '/rerank', { query: 'who', texts: [LONG], truncate: true });
      expect(rr.status).toBe(200);
      const rrNo = await post(url, '/rerank', { query: 'who', texts: [LONG] });
      expect([rrNo.status, rrNo.body.code]).toEqual([422, 'ERR_INPUT']);
      // the server still answers
      expect((await post(url, '/embed', { inputs: 'a' })).status).toBe(200);
      const errs = parsePrometheus(await (await fetch(url + '/metrics')).text()).filter((s) => s.name === 'electra_errors_total');
      expect(errs.find((s) => s.labels.code === 'ERR_INPUT')!.value).toBeGreaterThanOrEqual(12);
    } finally {
      await stop(x);
    }
  });

  test('API key: 401 without, 403 wrong, 200 right; /health open', async () => {
    const x = await serve('seqcls', { apiKey: 's3cret' });
    try {
      const none = await post(x.url, '/embed', { inputs: 'a' });
      expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
      expect((await post(x.url, '/embed', { inputs: 'a' }, { headers: { authorization: 'Bearer nope' } })).status).toBe(403);
      expect((await post(x.url, '/embed', { inputs: 'a' }, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await get(x.url, '/metrics')).status).toBe(401);
      expect((await get(x.url, '/health')).status).toBe(200);
    } finally {
      await stop(x);
    }
  });

  describe('with a slower model', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await slowClassifier();
    });
    afterAll(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

    const longTexts = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Array.from({ length: 12 }, (_, k) => textOf(seed * 100 + i * 12 + k, 1)).join(' '));

    test('429 with Retry-After past --max-concurrent-requests; the rest are served', async () => {
      const model = await Electra.load(dir);
      const s = await createServer({ model, logger: false, maxConcurrentRequests: 3, maxBatchRequests: 1, processMetrics: false });
      const url = await s.listen({ port: 0 });
      try {
        const rs = await Promise.all(Array.from({ length: 24 }, (_, i) => post(url, '/predict', { inputs: longTexts(8, i).map((t) => [t]) })));
        const busy = rs.filter((r) => r.status === 429);
        expect(busy.length).toBeGreaterThan(0);
        expect(rs.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(3);
        expect(rs.every((r) => r.status === 200 || r.status === 429)).toBe(true);
        expect(busy[0]!.headers.get('retry-after')).toBe('1');
        expect(busy[0]!.body.code).toBe('ERR_BUSY');
      } finally {
        await s.close();
        model.dispose();
      }
    });

    test('a client that aborts: its queued rows never run, its slot is freed; a request timeout gives 503', async () => {
      const model = await Electra.load(dir);
      const s = await createServer({ model, logger: false, maxBatchRequests: 1, requestTimeoutMs: 0, processMetrics: false });
      const url = await s.listen({ port: 0 });
      const seen: number[] = [];
      const prev = s.batcher.onBatch;
      s.batcher.onBatch = (b) => {
        seen.push(b.rows);
        prev?.(b);
      };
      try {
        // Keep the model busy with direct calls, so the batcher's work waits behind them.
        const busy = Array.from({ length: 2 }, () => model.forward({ inputIds: new Int32Array(16 * 128).fill(5), shape: [16, 128] }));
        const first = post(url, '/embed', { inputs: longTexts(5, 1) });
        while (!s.batcher.running) await sleep(1);
        const ctrl = new AbortController();
        const aborted = post(url, '/embed', { inputs: longTexts(7, 2) }, { signal: ctrl.signal }).catch((e: Error) => e);
        for (let i = 0; i < 2000 && s.batcher.queueDepth < 7; i++) await sleep(1);
        expect(s.batcher.queueDepth).toBe(7);
        ctrl.abort();
        expect((await aborted as Error).name).toBe('AbortError');
        for (let i = 0; i < 2000 && s.batcher.queueDepth > 0; i++) await sleep(1);
        expect(s.batcher.queueDepth).toBe(0);
        expect((await first).status).toBe(200);
        await Promise.all(busy);
        expect((await post(url, '/embed', { inputs: longTexts(3, 3) })).status).toBe(200);
        expect(seen).toEqual([5, 3]);
        let left = -1;
        for (let i = 0; i < 200 && left !== 0; i++) {
          left = parsePrometheus(await s.metrics.registry.metrics()).find((x) => x.name === 'electra_requests_in_flight')!.value;
          if (left) await sleep(5);
        }
        expect(left).toBe(0);
      } finally {
        await s.close();
      }
      const t = await createServer({ model, logger: false, requestTimeoutMs: 1, processMetrics: false });
      const turl = await t.listen({ port: 0 });
      try {
        const busy = model.forward({ inputIds: new Int32Array(16 * 128).fill(5), shape: [16, 128] });
        const r = await post(turl, '/embed', { inputs: longTexts(4, 4) });
        await busy;
        expect([r.status, r.body.code]).toEqual([503, 'ERR_ABORTED']);
        expect(r.body.error).toMatch(/request timeout/);
      } finally {
        await t.close();
        model.dispose();
      }
    });

    test('SIGTERM with requests in flight: every one completes, exit 0', async () => {
      const child = spawn(process.execPath, [CLI, 'serve', '--model', dir, '--port', '0', '--max-batch-requests', '1', '--shutdown-timeout', '60000', '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      try {
        let url = '';
        for (let i = 0; i < 600 && !url; i++) {
          await sleep(50);
          const m = /"url":"(http:[^"]+)"/.exec(out);
          if (m) url = m[1]!;
        }
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const N = 12;
        const reqs = Array.from({ length: N }, (_, i) => post(url, '/predict', { inputs: longTexts(16, i + 10).map((t) => [t]) }));
        let inFlight = 0;
        for (let i = 0; i < 400 && inFlight < N; i++) {
          const m = parsePrometheus((await get(url, '/metrics')).body as string);
          inFlight = m.find((x) => x.name === 'electra_requests_in_flight')!.value;
          if (inFlight < N) await sleep(5);
        }
        expect(inFlight).toBe(N);
        child.kill('SIGTERM');
        const rs = await Promise.all(reqs);
        expect(rs.map((r) => r.status)).toEqual(new Array(N).fill(200));
        expect(await exited).toBe(0);
        const log = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        const reqLog = log.filter((l) => l.msg === 'request' && l.route === '/predict');
        expect(reqLog).toHaveLength(N);
        expect(reqLog[0]).toMatchObject({ status: 200, inputs: 16, batch_size: 16 });
        expect(typeof reqLog[0]!.latency_ms).toBe('number');
        expect(reqLog[0]!.tokens).toBeGreaterThan(16 * 3);
        expect(log.some((l) => l.msg === 'stopped')).toBe(true);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
        if (err.trim()) console.log(err); // eslint-disable-line no-console
      }
    });
  });
});

test('/metrics parses as Prometheus text and counts what was served', async () => {
  const x = await serve('seqcls', { processMetrics: true });
  try {
    await post(x.url, '/embed', { inputs: SHORT.slice(0, 3) });
    await post(x.url, '/predict', { inputs: SHORT[0] });
    await post(x.url, '/embed', { inputs: 5 });
    const r = await fetch(x.url + '/metrics');
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parsePrometheus(await r.text());
    const one = (name: string, labels: Record<string, string> = {}) => m.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(one('electra_requests_total', { route: '/embed', status: '200' })).toBe(1);
    expect(one('electra_requests_total', { route: '/embed', status: '422' })).toBe(1);
    expect(one('electra_errors_total', { code: 'ERR_INPUT' })).toBe(1);
    expect(one('electra_batch_size_count')).toBe(2);
    expect(one('electra_batch_size_sum')).toBe(4);
    for (const h of ['electra_request_duration_seconds', 'electra_queue_duration_seconds', 'electra_inference_duration_seconds', 'electra_batch_tokens', 'electra_request_tokens']) {
      expect(m.some((s) => s.name === `${h}_bucket` && s.labels.le === '+Inf')).toBe(true);
    }
    expect(one('electra_queue_depth')).toBe(0);
    expect(one('electra_process_resident_memory_bytes')).toBeGreaterThan(0);
  } finally {
    await stop(x);
  }
});
