import { checkWindows, splitWindows } from '../../src/data/windows';
import { ElectraError } from '../../src/errors';

describe('splitWindows', () => {
  const CLS = 2, SEP = 3;
  const text = (n: number) => [CLS, ...Array.from({ length: n }, (_, i) => 100 + i), SEP];
  test('consecutive pieces of maxLength - 2 tokens, each [CLS] ... [SEP], nothing lost or repeated', () => {
    const w = splitWindows(text(10), 6, 5, CLS, SEP);
    expect(w.windows).toEqual([
      [CLS, 100, 101, 102, 103, SEP],
      [CLS, 104, 105, 106, 107, SEP],
      [CLS, 108, 109, SEP],
    ]);
    expect(w.truncated).toBe(0);
  });
  test('at most `windows` windows; the rest counted as truncated', () => {
    const w = splitWindows(text(10), 6, 2, CLS, SEP);
    expect(w.windows.length).toBe(2);
    expect(w.windows[1]).toEqual([CLS, 104, 105, 106, 107, SEP]);
    expect(w.truncated).toBe(2);
  });
  test('one window is plain truncation; a text that fits is one window; an empty text is [CLS] [SEP]', () => {
    expect(splitWindows(text(10), 6, 1, CLS, SEP)).toEqual({ windows: [[CLS, 100, 101, 102, 103, SEP]], truncated: 6 });
    expect(splitWindows(text(4), 6, 8, CLS, SEP)).toEqual({ windows: [text(4)], truncated: 0 });
    expect(splitWindows(text(0), 6, 3, CLS, SEP)).toEqual({ windows: [[CLS, SEP]], truncated: 0 });
  });
  test('bad counts and lengths are ElectraErrors', () => {
    expect(checkWindows(4, 'x', 'ERR_CONFIG')).toBe(4);
    for (const bad of [0, -1, 1.5, 65, '2', undefined, NaN]) {
      expect(() => checkWindows(bad, 'x', 'ERR_INPUT')).toThrow(ElectraError);
    }
    expect(() => splitWindows(text(3), 2, 2, CLS, SEP)).toThrow(/at least 3 tokens/);
  });
});
