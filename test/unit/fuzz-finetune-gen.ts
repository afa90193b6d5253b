/*
 * Inputs for the fine-tuning fuzz tests (fuzz-finetune.test.ts, fuzz-finetune-jsonl.test.ts):
 * CSV, TSV and JSONL texts with byte flips, truncation, splicing, invalid UTF-8, BOMs, stray
 * quotes and delimiters, lines deleted/duplicated, JSON lines with wrong types, deep nesting,
 * objects as labels, "__proto__" columns and fields, and odd field options.
 */
import { parseFinetuneBuffer, type FinetuneFileOptions, type FinetuneSet } from '../../src/data/finetune';
import { deepJsonText, fuzz, mutateBytes, mutateJson, report, showJsonish, type FuzzTally, type Rand } from './fuzz-helpers';

export const SEED = 0xf17e;
export const CASES = 10_000; // per format
export type Format = 'csv' | 'tsv' | 'jsonl';

const ROWS: [string, string, string][] = [
  ['The film was great, really.', 'It was good.', 'pos'],
  ['Say "hi"\nthere', 'second', 'neg'],
  ['  spaced  ', '', 'neutral'],
  ['ünïcödé 中文 🙂', 'pair', '1'],
  ['plain', 'other', 'pos'],
];

function csvField(s: string, d: string): string {
  return /["\n\r]/.test(s) || s.includes(d) ? `"${s.replace(/"/g, '""')}"` : s;
}

function baseText(format: Format, r: Rand): string {
  const pair = r.chance(0.4);
  if (format === 'jsonl') {
    return ROWS.map(([t, p, l]) => JSON.stringify(pair ? { text: t, text_pair: p, label: r.chance(0.2) ? Number(l) || l : l } : { text: t, label: l })).join('\n') + '\n';
  }
  const d = format === 'csv' ? ',' : '\t';
  const head = pair ? ['text', 'text_pair', 'label'] : ['text', 'label'];
  const rows = ROWS.map(([t, p, l]) => (pair ? [t, p, l] : [t, l]).map((x) => csvField(x, d)).join(d));
  return [head.join(d), ...rows].join(r.chance(0.8) ? '\n' : '\r\n') + '\n';
}

export function makeText(format: Format, r: Rand): Buffer {
  const base = baseText(format, r);
  const mode = r.int(10);
  if (mode < 5) {
    let b: Buffer = Buffer.from(base);
    for (let k = 1 + r.int(3); k > 0; k--) b = mutateBytes(b, r, [Buffer.from(baseText(format, r))], ['"', ',', '\t', '\n', '\r', '\r\n', '""', '{', '}', ':', 'text', 'label', '\ufeff', '\u0000', '"text":', '"label":{}']);
    return b;
  }
  const lines = base.split('\n').filter((l) => l !== '');
  if (mode < 8) {
    for (let k = 1 + r.int(3); k > 0; k--) {
      const i = r.int(lines.length + 1);
      switch (r.int(7)) {
        case 0: lines.splice(i, 1); break;
        case 1: lines.splice(i, 0, lines[r.int(lines.length)] ?? ''); break;
        case 2: lines.splice(i, 0, r.pick(['', ' ', '"', '"unterminated', 'a,b,c,d,e', '\t\t\t', 'x'.repeat(1 + (r.chance(0.05) ? r.int(50_000) : r.int(2000))), '{}', '[]', 'null', '1'])); break;
        case 3:
          if (format === 'jsonl' && lines.length) {
            const at = r.int(lines.length);
            let v: unknown = {};
            if (lines[at]!.length < 5000) {
              try {
                v = JSON.parse(lines[at]!);
              } catch {
                // not JSON: mutate an empty object instead
              }
            }
            lines[at] = JSON.stringify(mutateJson(v, r, ['text', 'label', 'text_pair', '__proto__', 'constructor', 'toString'], 1 + r.int(2))) ?? 'null';
          } else if (lines.length) {
            // a header with odd or duplicate names
            const d = format === 'csv' ? ',' : '\t';
            lines[0] = r.pick([`text${d}text${d}label`, `__proto__${d}label`, `text${d}__proto__`, `constructor${d}text`, '', 'text', `label${d}text`, `text${d}label${d}label`]);
          }
          break;
        case 4:
          if (format === 'jsonl') lines.splice(i, 0, JSON.stringify({ text: 'x', label: r.pick<unknown>([{}, [], { toString: 1 }, { valueOf: 'x' }, [1, 2], null, true, 3.5, -0, 1e300]) }));
          else lines.splice(i, 0, `${'"'.repeat(1 + r.int(5))}${r.pick(['a', ',', '\t', ''])}`);
          break;
        case 5:
          if (format === 'jsonl') lines.splice(i, 0, `{"text": ${deepJsonText(r)}}`);
          else lines.splice(i, 0, Array.from({ length: 1 + r.int(500) }, () => 'c').join(format === 'csv' ? ',' : '\t'));
          break;
        default:
          lines.reverse();
      }
    }
    return Buffer.from(lines.join(r.chance(0.9) ? '\n' : '\r') + '\n');
  }
  return Buffer.from(r.pick(['', '\n', '\ufeff', '\ufefftext,label\nx,y\n', 'text\n', '"', '""', 'text,label\n"a', '{"text":"x"}', '\u0000'.repeat(100), 'text\n' + 'a\n'.repeat(format === 'jsonl' ? 200 : 3000)]));
}

export function makeOpts(r: Rand): FinetuneFileOptions {
  if (r.chance(0.8)) return {};
  const o: FinetuneFileOptions = {};
  const names = ['text', 'label', 'text_pair', 'sentence', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'missing'];
  if (r.chance(0.5)) o.textField = r.pick(names);
  if (r.chance(0.5)) o.labelField = r.pick(names);
  if (r.chance(0.3)) o.pairField = r.pick(names);
  return o;
}

export function checkSet(s: FinetuneSet, opts: FinetuneFileOptions): void {
  if (s.examples.length === 0) throw new Error('an empty set was returned (expected ERR_DATA)');
  const labels = new Set<string>();
  for (const e of s.examples) {
    if (typeof e.text !== 'string' || !e.text.trim()) throw new Error(`example with text ${JSON.stringify(e.text)}`);
    if (e.textPair !== undefined && typeof e.textPair !== 'string') throw new Error('a non-string text pair');
    if (e.label !== undefined) {
      if (typeof e.label !== 'string' || e.label === '') throw new Error(`label ${String(e.label)}`);
      labels.add(e.label);
    }
    if (typeof e.source !== 'string') throw new Error('no source');
  }
  const sorted = [...labels].sort();
  if (JSON.stringify(sorted) !== JSON.stringify(s.labels)) throw new Error(`labels ${JSON.stringify(s.labels)} differ from the examples' ${JSON.stringify(sorted)}`);
  void opts;
}

/** Runs CASES mutated texts of one format through parseFinetuneBuffer. */
export async function fuzzFormat(format: Format, seed: number): Promise<FuzzTally> {
  const t = await fuzz({
    name: `finetune ${format}`,
    seed,
    cases: CASES,
    codes: ['ERR_DATA'],
    make: (r) => ({ bytes: makeText(format, r), opts: makeOpts(r) }),
    run: (c) => checkSet(parseFinetuneBuffer(c.bytes, { ...c.opts, format }, `train.${format}`), c.opts),
    show: (c) => showJsonish({ opts: c.opts, text: c.bytes.toString('utf8').slice(0, 1200) }),
  });
  console.log(report(`finetune ${format} (parseFinetuneBuffer)`, t));
  return t;
}
