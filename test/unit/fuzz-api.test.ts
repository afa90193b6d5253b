/*
 * The public API's argument shapes: every entry point of src/index.ts that runs without the
 * native addon, called with malformed arguments (undefined, null, numbers, strings where objects
 * go, sparse arrays, objects of the wrong shape, huge values), must throw or reject an
 * ElectraError (ERR_INPUT, ERR_CONFIG, or a code naming the failing resource), never a TypeError
 * or a crash. test/native/fuzz-api.test.ts does the same for the model's methods.
 */
import * as api from '../../src/index';
import { ElectraError } from '../../src/errors';

const sparse = new Array(3);
const holey = ['a', , 'b'];
const BAD: unknown[] = [undefined, null, 0, -1, NaN, 1e308, 'x', '', true, [], sparse, holey, {}, { size: 'big' }, { length: 1e9 }, () => 1, Symbol('s'), new Uint8Array(2), Object.create(null)];

/** Calls fn and awaits it; resolves to the error, or to 'ok' when it did not fail. */
async function outcome(fn: () => unknown): Promise<unknown> {
  try {
    const r = fn();
    if (r && typeof (r as Promise<unknown>).then === 'function') await r;
    else if (r && typeof (r as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') for await (const _ of r as AsyncIterable<unknown>) break;
    return 'ok';
  } catch (e) {
    return e;
  }
}

function expectElectraOrOk(e: unknown, what: string): void {
  if (e === 'ok') return;
  if (!(e instanceof ElectraError)) throw new Error(`${what} threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
}

const describeArg = (a: unknown) => (typeof a === 'symbol' ? 'symbol' : typeof a === 'function' ? 'function' : a === sparse ? 'sparse array' : a === holey ? 'holey array' : JSON.stringify(a) ?? String(a));

/** Functions of one argument (or whose first argument carries everything). */
const ONE: Record<string, (a: unknown) => unknown> = {
  parseConfig: (a) => api.parseConfig(a as never),
  readConfigFile: (a) => api.readConfigFile(a as never),
  presetConfig: (a) => api.presetConfig(a as never),
  generatorConfig: (a) => (api.generatorConfig as (x: unknown) => unknown)(a),
  parseTrainerOptions: (a) => api.parseTrainerOptions(a as never),
  parseFinetuneOptions: (a) => api.parseFinetuneOptions(a as never),
  finetune: (a) => api.finetune(a as never),
  pretrain: (a) => api.pretrain(a as never),
  prepare: (a) => api.prepare(a as never),
  loadTaskData: (a) => api.loadTaskData(a as never, { kind: 'sequence-classification' }),
  readTagFile: (a) => api.readTagFile(a as never),
  readQaFile: (a) => api.readQaFile(a as never),
  readCorpus: (a) => api.readCorpus(a as never),
  corpusSize: (a) => api.corpusSize(a as never),
  readFinetuneFile: (a) => api.readFinetuneFile(a as never),
  stratifiedSplit: (a) => api.stratifiedSplit(a as never, { seed: 1 } as never),
  splitSentences: (a) => api.splitSentences(a as never),
  readMeta: (a) => api.readMeta(a as never),
  trainVocabulary: (a) => api.trainVocabulary(a as never, { size: 100 }),
  trainWordPiece: (a) => api.trainWordPiece(a as never, { size: 100 }),
  listCheckpoints: (a) => api.listCheckpoints(a as never),
  readSafetensors: (a) => api.readSafetensors(a as never),
  groupEntities: (a) => (api.groupEntities as (x: unknown) => unknown)(a),
  'ElectraTokenizer.load': (a) => api.ElectraTokenizer.load(a as never),
  'ElectraTokenizer.fromVocabList': (a) => api.ElectraTokenizer.fromVocabList(a as never),
  'Electra.load': (a) => api.Electra.load(a as never),
  'PretrainDataset.open': (a) => api.PretrainDataset.open(a as never),
  ExampleBuilder: (a) => new (api.ExampleBuilder as unknown as new (x: unknown) => unknown)(a),
  'metrics.accuracy': (a) => api.metrics.accuracy(a as never, [1, 2]),
  'metrics.entityF1': (a) => api.metrics.entityF1(a as never, [['B-X']]),
  'metrics.squadScores': (a) => api.metrics.squadScores(a as never, ['x']),
  'metrics.pearson': (a) => api.metrics.pearson(a as never, [1, 2]),
  setNumThreads: (a) => api.setNumThreads(a as never),
};

/** Functions with a valid first argument and malformed options. */
const OPTS: Record<string, (a: unknown) => unknown> = {
  trainVocabulary: (a) => api.trainVocabulary('sotu', a as never),
  trainWordPiece: (a) => api.trainWordPiece(new Map([['ab', 3]]), a as never),
  loadTaskData: (a) => api.loadTaskData('spam-assassin', a as never),
  readCorpus: (a) => api.readCorpus('/nonexistent', a as never),
  readFinetuneFile: (a) => api.readFinetuneFile('/nonexistent', a as never),
  splitSentences: (a) => api.splitSentences('One. Two.', a as never),
  readSafetensors: (a) => api.readSafetensors('/nonexistent', a as never),
  'ElectraTokenizer.fromVocabList': (a) => api.ElectraTokenizer.fromVocabList(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a'], a as never),
  'Electra.load': (a) => api.Electra.load('/nonexistent', a as never),
  'Electra.create': (a) => api.Electra.create(a as never),
  writeSafetensors: (a) => api.writeSafetensors('/nonexistent/x.safetensors', a as never),
  writeConfigFile: (a) => api.writeConfigFile('/nonexistent/config.json', a as never),
  'metrics.f1Score': (a) => api.metrics.f1Score([0, 1], [0, 1], a as never),
};

describe('public API: malformed arguments give an ElectraError', () => {
  test.each(Object.entries(ONE))('%s(bad)', async (name, fn) => {
    const failures: string[] = [];
    for (const a of BAD) {
      try {
        expectElectraOrOk(await outcome(() => fn(a)), `${name}(${describeArg(a)})`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
    expect(failures).toEqual([]);
  });

  test.each(Object.entries(OPTS))('%s(valid, bad options)', async (name, fn) => {
    const failures: string[] = [];
    for (const a of BAD) {
      if (a === undefined && name !== 'Electra.create' && name !== 'writeSafetensors' && name !== 'writeConfigFile') continue;
      try {
        expectElectraOrOk(await outcome(() => fn(a)), `${name}(.., ${describeArg(a)})`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('a number where a file path goes is not read as a file descriptor', () => {
  // fs reads a number as a descriptor: 0 is standard input, which in a jest worker (a socket from
  // the parent) never ends, so a synchronous read would block the process for good. Run in a
  // child whose standard input stays open, with a bound on the wait.
  test.each(['readConfigFile', 'readTagFile', 'readQaFile', 'readFinetuneFile'])('%s(0) is ERR_INPUT without reading standard input', async (name) => {
    const { spawn } = await import('node:child_process');
    // The built package (npm test builds dist/ before jest runs).
    const dist = require('node:path').resolve(__dirname, '../../dist/index.cjs');
    const code = `const api = require(${JSON.stringify(dist)}); try { api.${name}(0); console.log('ok'); } catch (e) { console.log(e.code); }`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const status = await new Promise<string>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('blocked on standard input');
      }, 15000);
      child.on('exit', () => {
        clearTimeout(t);
        resolve(out.trim());
      });
    });
    child.stdin.end();
    expect(status).toBe('ERR_INPUT');
  });
});
