/* Token-classification scoring: tag scheme detection and checks, word accuracy, and the tie rule of epoch selection. */
import { detectScheme, entityF1, schemeViolation, tokenAccuracy } from '../../src/train/metrics';
import { betterEpoch, parseFinetuneOptions, resolveScheme, type EvalResult } from '../../src/train/finetune';

describe('tag schemes', () => {
  test('plain tags (POS) are plain, not entities', () => {
    expect(detectScheme([['NN', 'VBZ', 'DT'], ['NNP', '.']])).toBe('plain');
    expect(detectScheme([['O', 'O']])).toBe('plain');
    // One unprefixed tag among IOB ones: not an entity scheme.
    expect(detectScheme([['B-PER', 'I-PER', 'NN']])).toBe('plain');
  });

  test('IOB2, IOB1 and BIOES are told apart', () => {
    expect(detectScheme([['B-PER', 'I-PER', 'O', 'B-LOC']])).toBe('iob2');
    expect(detectScheme([['I-PER', 'I-PER', 'O', 'I-LOC', 'B-LOC']])).toBe('iob1');
    expect(detectScheme([['B-PER', 'E-PER', 'O', 'S-LOC']])).toBe('bioes');
  });

  test('a tag that breaks a given scheme is named', () => {
    expect(schemeViolation([['O', 'I-PER']], 'iob2')).toMatch(/sentence 1, tag 2 .*I-PER does not continue a B-PER/);
    expect(schemeViolation([['B-PER', 'I-LOC']], 'iob2')).toMatch(/I-LOC does not continue/);
    expect(schemeViolation([['B-PER', 'I-PER', 'O']], 'iob2')).toBeUndefined();
    expect(schemeViolation([['B-PER', 'O']], 'bioes')).toMatch(/B-PER is not followed by I-PER or E-PER/);
    expect(schemeViolation([['S-PER', 'B-LOC', 'E-LOC']], 'bioes')).toBeUndefined();
    expect(schemeViolation([['B-PER']], 'iob1')).toMatch(/IOB1/);
    expect(schemeViolation([['NN']], 'iob2')).toMatch(/not O nor a prefixed tag/);
    expect(schemeViolation([['NN']], 'plain')).toBeUndefined();
  });

  test('resolveScheme: auto detects; a given scheme is checked against every split (ERR_DATA with the file line)', () => {
    const ex = (tags: string[], source: string) => ({ words: tags.map(() => 'w'), tags, source });
    expect(resolveScheme('auto', { training: [ex(['NN', 'VB'], 'a:1')], dev: [ex(['DT'], 'b:1')] })).toBe('plain');
    expect(() => resolveScheme('iob2', { training: [ex(['B-X', 'I-X'], 'a:1')], dev: [ex(['O'], 'b:1'), ex(['O', 'I-X'], 'b:2')] })).toThrow(
      expect.objectContaining({ code: 'ERR_DATA', message: expect.stringMatching(/dev tags are not IOB2: b:2: sentence 2, tag 2/) }),
    );
  });
});

describe('scores', () => {
  test('word accuracy; entity F1 of plain tags is 0 (why plain tags must not be scored as entities)', () => {
    const gold = [['NN', 'VBZ', 'DT'], ['NNP']];
    const pred = [['NN', 'VBZ', 'NN'], ['NNP']];
    expect(tokenAccuracy(pred, gold)).toBeCloseTo(3 / 4);
    expect(entityF1(gold, gold).f1).toBe(0);
  });

  test('ties: the later epoch wins only with a lower dev loss', () => {
    const r = (metric: number, loss?: number): EvalResult => ({ metric, metricName: 'accuracy', loss });
    expect(betterEpoch(r(0.9, 1), r(0.8, 0.5))).toBe(true);
    expect(betterEpoch(r(0.8, 0.1), r(0.9, 1))).toBe(false);
    expect(betterEpoch(r(0.9, 0.4), r(0.9, 0.5))).toBe(true);
    expect(betterEpoch(r(0.9, 0.5), r(0.9, 0.5))).toBe(false);
    expect(betterEpoch(r(0.9, 0.6), r(0.9, 0.5))).toBe(false);
    expect(betterEpoch(r(0.9), r(0.9))).toBe(false);
  });

  test('--metric and --scheme are checked against the task', () => {
    const base = { model: 'm', task: 't', out: 'o' };
    expect(parseFinetuneOptions({ ...base, head: 'token-classification', metric: 'accuracy', scheme: 'plain' })).toMatchObject({ metric: 'accuracy', scheme: 'plain' });
    expect(() => parseFinetuneOptions({ ...base, head: 'token-classification', metric: 'spearman' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => parseFinetuneOptions({ ...base, metric: 'mcc', scheme: 'iob2' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringMatching(/scheme applies to token-classification/) }));
    expect(() => parseFinetuneOptions({ ...base, head: 'token-classification', scheme: 'iob3' as never })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });
});
