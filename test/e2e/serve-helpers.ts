/* Shared pieces of the server tests: requests over real HTTP, deep comparison with a tolerance, a Prometheus text parser. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';

export const FIX = path.join(__dirname, '..', 'fixtures', 'models');
export const TEXTS = (JSON.parse(fs.readFileSync(path.join(FIX, 'inference.json'), 'utf8')) as { texts: string[] }).texts;
const WORDS = 'the people of this nation have built roads schools and hospitals while the congress debated taxes trade and the budget for every state'.split(' ');

/** A deterministic text of 1..`maxWords` words. */
export function textOf(i: number, maxWords = 8): string {
  let s = i * 2654435761;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const n = 1 + (i % maxWords);
  const w: string[] = [];
  for (let j = 0; j < n; j++) w.push(WORDS[Math.floor(r() * WORDS.length)]!);
  return w.join(' ');
}

export interface Res {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function post(base: string, route: string, body: unknown, init: { headers?: Record<string, string>; raw?: string; signal?: AbortSignal } = {}): Promise<Res> {
  const r = await fetch(base + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.raw ?? JSON.stringify(body),
    signal: init.signal,
  });
  const text = await r.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: r.status, headers: r.headers, body: json };
}

export async function get(base: string, route: string, headers: Record<string, string> = {}): Promise<Res> {
  const r = await fetch(base + route, { headers });
  const text = await r.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: r.status, headers: r.headers, body: json };
}

/** Plain JSON of a value (typed arrays become arrays). */
export function plain(x: unknown): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v)));
}

/** Deep equality with numbers within `tol`; returns the first difference, or '' when equal. */
export function diff(a: unknown, b: unknown, tol = 1e-5, at = '$'): string {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= tol ? '' : `${at}: ${a} != ${b}`;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${at}: length ${a.length} != ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], tol, `${at}[${i}]`);
      if (d) return d;
    }
    return '';
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${at}: keys ${ka.join()} != ${kb.join()}`;
    for (const k of ka) {
      const d = diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tol, `${at}.${k}`);
      if (d) return d;
    }
    return '';
  }
  return a === b ? '' : `${at}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
}

/**
 * Parses Prometheus text exposition format 0.0.4: `# HELP`/`# TYPE` lines and samples
 * `name{label="v",...} value`; throws on any other line. Returns the samples.
 */
export function parsePrometheus(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types = new Map<string, string>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([-+]?(?:[0-9.]+(?:e[-+]?[0-9]+)?|[Nn]a[Nn]|Inf))( [0-9]+)?$/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      if (!name || !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type ?? '')) throw new Error(`bad TYPE line: ${line}`);
      types.set(name, type!);
      continue;
    }
    const m = sample.exec(line);
    if (!m) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      label.lastIndex = 0;
      while (label.lastIndex < m[3].length) {
        const l = label.exec(m[3]);
        if (!l) throw new Error(`bad labels in: ${line}`);
        labels[l[1]!] = l[2]!;
      }
    }
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]!) && !types.has(base)) throw new Error(`sample without a TYPE: ${line}`);
    out.push({ name: m[1]!, labels, value: /^[Nn]a[Nn]$/.test(m[4]!) ? NaN : Number(m[4]!.replace('Inf', 'Infinity')) });
  }
  return out;
}

/** A temp copy of an ELECTRA-Small-shaped but shallower random classifier with the fixture tokenizer, slow enough to keep requests in flight. */
export async function slowClassifier(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-serve-'))): Promise<string> {
  const model = await Electra.create(
    { vocab_size: 99, embedding_size: 128, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 128, id2label: { '0': 'no', '1': 'yes' } },
    { head: 'sequence-classification', seed: 1 },
  );
  const tok = path.join(FIX, 'seqcls');
  await model.save(path.join(dir, 'model'), { extraFiles: ['tokenizer.json', 'vocab.txt', 'tokenizer_config.json'].map((f) => path.join(tok, f)) });
  model.dispose();
  return path.join(dir, 'model');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
