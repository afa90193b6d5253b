/*
 * The model's public methods with malformed arguments (as test/unit/fuzz-api.test.ts does for the
 * functions): each call throws or rejects an ElectraError, never a TypeError or a crash, and the
 * model still works afterwards.
 */
import * as path from 'node:path';
import * as api from '../../src/index';

const FIX = path.join(__dirname, '..', 'fixtures', 'models');
const sparse = new Array(3);
const holey = ['a', , 'b'];
const BAD: unknown[] = [undefined, null, 0, -1, NaN, 1e308, '', true, [], sparse, holey, [null], [1, 2], [['a']], {}, { length: 1e9 }, () => 1, Symbol('s'), new Uint8Array(2), Object.create(null)];
const BAD_OPTS: unknown[] = [null, 0, 'x', true, [], { batchSize: 0 }, { batchSize: 1e308 }, { maxLength: -1 }, { maxLength: 1e9 }, { truncation: 'no' }, { pooling: 'max' }, { windows: 1e9 }, { precision: 'fp8' }, { hidden: 'yes' }];

const name = (a: unknown) => (typeof a === 'symbol' ? 'symbol' : typeof a === 'function' ? 'function' : a === sparse ? 'sparse array' : a === holey ? 'holey array' : JSON.stringify(a) ?? String(a));

async function failure(what: string, fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (e) {
    return e instanceof api.ElectraError ? undefined : `${what} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`;
  }
}

describe('model methods: malformed arguments give an ElectraError', () => {
  const models: Record<string, api.Electra> = {};
  beforeAll(async () => {
    for (const n of ['seqcls', 'tokcls', 'qa', 'disc-proj']) models[n] = await api.Electra.load(path.join(FIX, n));
  });
  afterAll(() => {
    for (const m of Object.values(models)) m.dispose();
  });

  test('the issue\'s cases: classify(new Array(3)), a sparse array, prepare({}), trainVocabulary(null)', async () => {
    const m = models.seqcls!;
    await expect(m.classify(new Array(3))).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringMatching(/texts\[0\] is missing \(a sparse array\)/) });
    await expect(m.classify(holey as string[])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringMatching(/texts\[1\] is missing/) });
    await expect(m.embed(new Array(2))).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(api.prepare({} as never)).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(INPUT|CONFIG)$/) });
    await expect(api.trainVocabulary(null as never, { size: 100 })).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(api.trainVocabulary('sotu', null as never)).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });

  test('every helper, every malformed first argument and options object', async () => {
    const seqcls = models.seqcls!, tokcls = models.tokcls!, qa = models.qa!, disc = models['disc-proj']!;
    const calls: Record<string, (a: unknown, o?: unknown) => unknown> = {
      classify: (a, o) => seqcls.classify(a as never, o as never),
      embed: (a, o) => seqcls.embed(a as never, o as never),
      tagTokens: (a, o) => tokcls.tagTokens(a as never, o as never),
      answer: (a, o) => qa.answer(a as never, o as never),
      'answer(q, c)': (a, o) => qa.answer('what?', a as never, o as never),
      detectReplaced: (a, o) => disc.detectReplaced(a as never, o as never),
      forward: (a, o) => seqcls.forward(a as never, o as never),
      save: (a) => seqcls.save(a as never),
      trainStep: (a, o) => seqcls.trainStep(a as never, o as never),
      setupTraining: (a) => seqcls.setupTraining(a as never),
      'classify (function)': (a, o) => api.classify(seqcls, a as never, o as never),
      'tokenizer.encode': (a) => seqcls.tokenizer!.encode(a as never),
      'tokenizer.encodeBatch': (a) => seqcls.tokenizer!.encodeBatch(a as never),
      'tokenizer.decode': (a) => seqcls.tokenizer!.decode(a as never),
    };
    const failures: string[] = [];
    for (const [k, fn] of Object.entries(calls)) {
      for (const a of BAD) {
        const f = await failure(`${k}(${name(a)})`, () => fn(a));
        if (f) failures.push(f);
      }
      for (const o of BAD_OPTS) {
        const f = await failure(`${k}(valid, ${name(o)})`, () => fn(k.startsWith('answer') ? [{ question: 'q', context: 'c' }] : k === 'forward' ? { inputIds: Int32Array.from([2, 3]), shape: [1, 2] } : ['a text'], o));
        if (f) failures.push(f);
      }
    }
    expect(failures).toEqual([]);
    // Still usable.
    expect(await seqcls.classify(['a text'])).toHaveLength(1);
  }, 120_000);

  test('static factories', async () => {
    const failures: string[] = [];
    for (const a of BAD) {
      for (const [k, fn] of Object.entries({
        'Electra.load': () => api.Electra.load(a as never),
        'Electra.load(dir, bad)': () => api.Electra.load(path.join(FIX, 'seqcls'), a as never),
        'Electra.create': () => api.Electra.create(a as never),
        'Electra.create(config, bad)': () => api.Electra.create({ vocab_size: 10, hidden_size: 8, embedding_size: 8, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 8 }, a as never),
      })) {
        const f = await failure(`${k}(${name(a)})`, fn);
        if (f) failures.push(f);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
