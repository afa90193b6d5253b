/*
 * dispose() while an inference call runs: the batches of a call that has started all finish with
 * the same results as without dispose; calls that have not started fail with ERR_DISPOSED.
 */
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { SerialQueue, CallScope } from '../../src/infer/queue';

const FIX = path.join(__dirname, '..', 'fixtures', 'models');
// Short texts: one encodeBatch per call (no truncation pass), so the hook below sees the last one.
const WORDS = 'the people of this nation have built roads schools and hospitals while the congress debated'.split(' ');
const TEXTS = Array.from({ length: 48 }, (_, i) => WORDS.slice(i % 7, (i % 7) + 3 + (i % 5)).join(' '));

/** Disposes `m` right after its tokenizer has encoded the texts of a call: by then the call's first forward pass has started. */
function disposeAfterFirstEncode(m: Electra, before: () => void = () => {}): void {
  const tok = m.tokenizer!;
  const encode = tok.encodeBatch.bind(tok);
  let armed = true;
  tok.encodeBatch = ((...a: Parameters<typeof encode>) => {
    const p = encode(...a);
    if (!armed) return p;
    // Only the first call's encoding: a call made after it must not trigger the dispose.
    armed = false;
    return p.then((r) => {
      setImmediate(() => {
        before();
        m.dispose();
      });
      return r;
    });
  }) as typeof tok.encodeBatch;
}

describe('dispose during a running call', () => {
  test('embed() of many texts: the started call finishes with every batch; a call queued behind it and later calls fail', async () => {
    const ref = await Electra.load(path.join(FIX, 'seqcls'));
    const want = await ref.embed(TEXTS, { batchSize: 2 });
    ref.dispose();

    const m = await Electra.load(path.join(FIX, 'seqcls'));
    // Called just before dispose, while the embed() call runs: a forward pass waiting in the queue,
    // and a classify() still tokenizing. Neither has started.
    const late: Promise<unknown>[] = [];
    disposeAfterFirstEncode(m, () => {
      for (const p of [m.forward({ inputIds: new Int32Array(4 * 8).fill(5), shape: [4, 8] }), m.classify(TEXTS, { batchSize: 2 })]) {
        late.push(p.then(() => 'resolved', (e: unknown) => e));
      }
    });
    const running = m.embed(TEXTS, { batchSize: 2 });
    const got = await running;
    expect(m.disposed).toBe(true);
    expect(got).toHaveLength(TEXTS.length);
    got.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i]!)));
    expect(late).toHaveLength(2);
    for (const p of late) expect(await p).toMatchObject({ code: 'ERR_DISPOSED' });
    await expect(m.embed(['x'])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    expect(() => m.parameters()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  test('classify() and tagTokens() likewise finish once started', async () => {
    const m = await Electra.load(path.join(FIX, 'seqcls'));
    disposeAfterFirstEncode(m);
    const r = await m.classify(TEXTS, { batchSize: 1 });
    expect(r).toHaveLength(TEXTS.length);
    expect(m.disposed).toBe(true);
    const t = await Electra.load(path.join(FIX, 'tokcls'));
    disposeAfterFirstEncode(t);
    expect(await t.tagTokens(TEXTS, { batchSize: 1 })).toHaveLength(TEXTS.length);
  });

  test('the queue: close() keeps the jobs of a started call, rejects the others', async () => {
    const q = new SerialQueue();
    const started = new CallScope();
    const notYet = new CallScope();
    const order: string[] = [];
    const job = (name: string) => async () => {
      await new Promise((r) => setTimeout(r, 2));
      order.push(name);
      return name;
    };
    const a1 = q.run(job('a1'), started);
    const b1 = q.run(job('b1'), notYet);
    const a2 = q.run(job('a2'), started);
    const c = q.run(job('c'));
    const failed = Promise.allSettled([b1, c]);
    expect(started.started).toBe(true);
    q.close(new Error('closed'));
    const a3 = q.run(job('a3'), started);
    await expect(q.run(job('d'))).rejects.toThrow('closed');
    await expect(q.run(job('b2'), notYet)).rejects.toThrow('closed');
    expect(await Promise.all([a1, a2, a3])).toEqual(['a1', 'a2', 'a3']);
    expect((await failed).map((x) => x.status === 'rejected' && (x.reason as Error).message)).toEqual(['closed', 'closed']);
    expect(order).toEqual(['a1', 'a2', 'a3']);
  });
});
