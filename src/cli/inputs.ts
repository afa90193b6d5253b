/** Texts for the inference commands: positional arguments, or `--file F` (one per line, `-` for stdin). */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { ElectraError } from '../errors';

/** The texts in chunks of `size` (blank lines of a file skipped), so long files stream through. */
export async function* textChunks(positionals: readonly string[], file: string | undefined, size: number): AsyncGenerator<string[]> {
  if (file !== undefined && positionals.length) throw new ElectraError('ERR_CONFIG', 'give texts or --file, not both');
  if (file === undefined) {
    if (positionals.length === 0) throw new ElectraError('ERR_CONFIG', 'give at least one text, or --file F (- for stdin)');
    for (let i = 0; i < positionals.length; i += size) yield positionals.slice(i, i + size);
    return;
  }
  let input: NodeJS.ReadableStream;
  if (file === '-') input = process.stdin;
  else {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new ElectraError('ERR_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (!st.isFile()) throw new ElectraError('ERR_IO', `${file} is not a file`);
    input = fs.createReadStream(file, { encoding: 'utf8' });
  }
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let chunk: string[] = [];
  for await (const line of rl) {
    if (line.trim() === '') continue;
    chunk.push(line);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

/** A float32 as JSON with the digits it needs (9 significant). */
export function f32(x: number): number {
  return Number(x.toPrecision(9));
}
