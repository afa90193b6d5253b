/** Small helpers over node:util parseArgs so every command reports bad options the same way. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ElectraError } from '../errors';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw new ElectraError('ERR_CONFIG', (e as Error).message);
  }
}

/** Parses a numeric option, naming it in the error. */
export function num(v: string | undefined, name: string, opts: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || (opts.int && !Number.isInteger(x))) {
    throw new ElectraError('ERR_CONFIG', `--${name} must be ${opts.int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  }
  if (opts.min !== undefined && x < opts.min) throw new ElectraError('ERR_CONFIG', `--${name} must be >= ${opts.min}, got ${x}`);
  if (opts.max !== undefined && x > opts.max) throw new ElectraError('ERR_CONFIG', `--${name} must be <= ${opts.max}, got ${x}`);
  return x;
}

/** `--precision`: fp32 or bf16 (inference). */
export function precisionOf(v: string | undefined): 'fp32' | 'bf16' {
  if (v === undefined) return 'fp32';
  if (v !== 'fp32' && v !== 'bf16') throw new ElectraError('ERR_CONFIG', `--precision must be fp32 or bf16, got '${v}'`);
  return v;
}

/** `--cuda-graph` / `--no-cuda-graph`: forced on or off; neither: the trainer's default (on for CUDA). */
export function cudaGraphOf(on: boolean | undefined, off: boolean | undefined): boolean | undefined {
  if (on && off) throw new ElectraError('ERR_CONFIG', '--cuda-graph and --no-cuda-graph contradict each other; give one');
  return on ? true : off ? false : undefined;
}
