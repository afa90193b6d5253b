/**
 * Rule-based sentence splitter. The original ELECTRA/BERT pipeline treats every input line as a
 * sentence; many corpora (SOTU among them) keep a whole paragraph or speech on one line, so we
 * split lines further:
 *
 * 1. Every line is split on its own (a line break always ends a sentence); blank lines vanish.
 * 2. Inside a line, a sentence ends after a run of `.`, `!` or `?` (plus closing quotes or
 *    brackets) that is followed by whitespace and then an upper-case letter, a digit or an
 *    opening quote/bracket.
 * 3. A `.` does not end a sentence when the word before it is a known abbreviation (Mr, Dr,
 *    St, U.S, e.g, Jan, ...) or a single letter (an initial such as "J. Smith").
 *
 * It is deliberately simple and fast; sentences only decide where examples split into segments A
 * and B, so an occasional wrong split costs little.
 */

const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'ft', 'vs', 'etc', 'inc', 'ltd', 'co', 'corp',
  'gen', 'gov', 'sen', 'rep', 'rev', 'hon', 'pres', 'capt', 'col', 'lt', 'sgt', 'adm', 'cmdr', 'messrs',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'no', 'nos', 'vol', 'art', 'fig', 'approx', 'dept', 'est', 'e.g', 'i.e', 'u.s', 'u.k', 'u.n', 'a.m', 'p.m',
  'd.c', 'u.s.a', 'cf', 'al',
]);

const BOUNDARY = /([.!?]+["'”’)\]»]*)\s+(?=["'“‘(\[«]?[\p{Lu}\p{N}])/gu;

/** Options of {@link splitSentences}. */
export interface SplitOptions {
  /** `rules` (default): the rules above; `lines`: every non-blank line is one sentence, as the original does. */
  mode?: 'rules' | 'lines';
}

/** Splits one document into sentences (trimmed, never empty). */
export function splitSentences(text: string, opts: SplitOptions = {}): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n|\r/);
  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    if (opts.mode === 'lines') {
      out.push(line);
      continue;
    }
    let start = 0;
    BOUNDARY.lastIndex = 0;
    for (let m = BOUNDARY.exec(line); m; m = BOUNDARY.exec(line)) {
      const term = m[1]!;
      const endOfTerm = m.index + term.length;
      if (term[0] === '.' && term.length === 1 && isAbbreviation(line, m.index)) continue;
      const s = line.slice(start, endOfTerm).trim();
      if (s) out.push(s);
      start = m.index + m[0].length;
    }
    const rest = line.slice(start).trim();
    if (rest) out.push(rest);
  }
  return out;
}

/** Whether the word ending just before position `dot` (a '.') is an abbreviation or an initial. */
function isAbbreviation(line: string, dot: number): boolean {
  let i = dot;
  while (i > 0 && !/\s/.test(line[i - 1]!)) i--;
  const word = line.slice(i, dot).replace(/^["'“‘(\[]+/, '').toLowerCase();
  if (word.length === 1 && /\p{L}/u.test(word)) return true;
  return ABBREVIATIONS.has(word);
}
