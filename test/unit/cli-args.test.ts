/* The CLI's option helpers (src/cli/args.ts) that decide values the trainer then acts on. */
import { cudaGraphOf, num } from '../../src/cli/args';

describe('cli option helpers', () => {
  test('cudaGraphOf: --cuda-graph forces on, --no-cuda-graph off, neither leaves the default, both is ERR_CONFIG', () => {
    expect(cudaGraphOf(true, undefined)).toBe(true);
    expect(cudaGraphOf(undefined, true)).toBe(false);
    expect(cudaGraphOf(undefined, undefined)).toBeUndefined();
    expect(() => cudaGraphOf(true, true)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('contradict') }));
  });

  test('num names the option in its errors', () => {
    expect(num('3', 'steps', { int: true, min: 1 })).toBe(3);
    expect(num(undefined, 'steps')).toBeUndefined();
    expect(() => num('2.5', 'steps', { int: true })).toThrow(/--steps must be an integer/);
    expect(() => num('0', 'steps', { min: 1 })).toThrow(/--steps must be >= 1/);
  });
});
