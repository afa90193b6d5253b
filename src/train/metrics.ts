/**
 * Evaluation metrics of fine-tuning: accuracy, F1 and Matthews correlation for classification,
 * Pearson and Spearman for regression, entity-level F1 (IOB2, as seqeval's default mode) for
 * token classification, exact match and F1 (SQuAD normalisation) for question answering.
 */

/** Fraction of predictions equal to the gold labels. */
export function accuracy(pred: ArrayLike<number>, gold: ArrayLike<number>): number {
  if (gold.length === 0) return 0;
  let ok = 0;
  for (let i = 0; i < gold.length; i++) if (pred[i] === gold[i]) ok++;
  return ok / gold.length;
}

function confusion(pred: ArrayLike<number>, gold: ArrayLike<number>, k: number): number[][] {
  const c = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < gold.length; i++) c[gold[i]!]![pred[i]!]!++;
  return c;
}

/**
 * F1: of class `positive` for two classes (default class 1), macro-averaged over the classes for
 * more (a class never predicted nor present counts 0 only when it is present).
 */
export function f1Score(pred: ArrayLike<number>, gold: ArrayLike<number>, numClasses: number, positive = 1): number {
  const c = confusion(pred, gold, numClasses);
  const f1Of = (j: number): number => {
    let tp = c[j]![j]!, fp = 0, fn = 0;
    for (let i = 0; i < numClasses; i++) {
      if (i === j) continue;
      fp += c[i]![j]!;
      fn += c[j]![i]!;
    }
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  };
  if (numClasses === 2) return f1Of(positive);
  let sum = 0, n = 0;
  for (let j = 0; j < numClasses; j++) {
    let support = 0, predicted = 0;
    for (let i = 0; i < numClasses; i++) {
      support += c[j]![i]!;
      predicted += c[i]![j]!;
    }
    if (support === 0 && predicted === 0) continue;
    sum += f1Of(j);
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

/** Matthews correlation coefficient (the multi-class generalisation, equal to the usual one for two classes). */
export function matthews(pred: ArrayLike<number>, gold: ArrayLike<number>, numClasses: number): number {
  const c = confusion(pred, gold, numClasses);
  const n = gold.length;
  let correct = 0;
  const tk = new Array<number>(numClasses).fill(0); // true counts
  const pk = new Array<number>(numClasses).fill(0); // predicted counts
  for (let i = 0; i < numClasses; i++) {
    correct += c[i]![i]!;
    for (let j = 0; j < numClasses; j++) {
      tk[i]! += c[i]![j]!;
      pk[j]! += c[i]![j]!;
    }
  }
  let tp = 0, tt = 0, pp = 0;
  for (let i = 0; i < numClasses; i++) {
    tp += tk[i]! * pk[i]!;
    tt += tk[i]! * tk[i]!;
    pp += pk[i]! * pk[i]!;
  }
  const den = Math.sqrt((n * n - pp) * (n * n - tt));
  return den === 0 ? 0 : (correct * n - tp) / den;
}

/** Pearson correlation (0 when either side is constant). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return 0;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i]! - mx, b = y[i]! - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}

/** Ranks with ties given their average rank (1-based). */
export function ranks(x: ArrayLike<number>): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const r = new Array<number>(x.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]!] === x[idx[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]!] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson of the ranks, ties averaged). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(ranks(x), ranks(y));
}

/** Entities `type@start:end` (end exclusive) of an IOB2 (or IOB1/IO) tag sequence. */
export function entities(tags: readonly string[]): string[] {
  const out: string[] = [];
  let type: string | undefined;
  let start = 0;
  const close = (end: number) => {
    if (type !== undefined) out.push(`${type}@${start}:${end}`);
    type = undefined;
  };
  tags.forEach((tag, i) => {
    const m = /^([BIES])-(.+)$/.exec(tag);
    if (!m) {
      close(i);
      return;
    }
    const [, p, t] = m;
    if (p === 'B' || p === 'S' || type !== t) {
      close(i);
      type = t;
      start = i;
    }
    if (p === 'E' || p === 'S') close(i + 1);
  });
  close(tags.length);
  return out;
}

/** Entity-level precision, recall and F1 over sentences (micro-averaged, exact span and type). */
export function entityF1(pred: readonly string[][], gold: readonly string[][]): { precision: number; recall: number; f1: number } {
  let tp = 0, np = 0, ng = 0;
  for (let s = 0; s < gold.length; s++) {
    const g = new Set(entities(gold[s]!));
    const p = entities(pred[s] ?? []);
    np += p.length;
    ng += g.size;
    for (const e of p) if (g.has(e)) tp++;
  }
  const precision = np ? tp / np : 0;
  const recall = ng ? tp / ng : 0;
  return { precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0 };
}

/** SQuAD answer normalisation: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');
}

/** SQuAD exact match and token F1 of one prediction against its gold answers (best over golds). */
export function squadScores(pred: string, golds: readonly string[]): { exact: number; f1: number } {
  if (golds.length === 0) golds = [''];
  let exact = 0, best = 0;
  const p = normalizeAnswer(pred);
  const pt = p ? p.split(' ') : [];
  for (const g0 of golds) {
    const g = normalizeAnswer(g0);
    if (g === p) exact = 1;
    const gt = g ? g.split(' ') : [];
    if (gt.length === 0 || pt.length === 0) {
      best = Math.max(best, gt.length === pt.length ? 1 : 0);
      continue;
    }
    const counts = new Map<string, number>();
    for (const t of gt) counts.set(t, (counts.get(t) ?? 0) + 1);
    let common = 0;
    for (const t of pt) {
      const c = counts.get(t) ?? 0;
      if (c > 0) {
        common++;
        counts.set(t, c - 1);
      }
    }
    if (common === 0) continue;
    const prec = common / pt.length, rec = common / gt.length;
    best = Math.max(best, (2 * prec * rec) / (prec + rec));
  }
  return { exact, f1: best };
}

/** Tag schemes of token classification: entity schemes (scored by entity F1) or plain tags (POS: NN, VBZ; scored by accuracy). */
export type TagScheme = 'iob1' | 'iob2' | 'bioes' | 'plain';
export const TAG_SCHEMES: readonly TagScheme[] = ['iob1', 'iob2', 'bioes', 'plain'];

const PREFIXED = /^([BIESLU])-(.+)$/;

/**
 * The scheme of tag sequences: `plain` when any tag is neither `O` nor prefixed (`B-`, `I-`,
 * `E-`, `S-`), or when no tag is prefixed; `bioes` when `E-` or `S-` occurs; `iob2` when every
 * `I-X` continues a `B-X`/`I-X`; else `iob1` (`I-` opens entities, `B-` only splits two adjacent
 * ones of a type).
 */
export function detectScheme(sequences: readonly (readonly string[])[]): TagScheme {
  let prefixed = false, bioes = false;
  for (const seq of sequences) {
    for (const t of seq) {
      if (t === 'O') continue;
      const m = PREFIXED.exec(t);
      if (!m || m[1] === 'L' || m[1] === 'U') return 'plain';
      prefixed = true;
      if (m[1] === 'E' || m[1] === 'S') bioes = true;
    }
  }
  if (!prefixed) return 'plain';
  if (bioes) return 'bioes';
  return schemeViolation(sequences, 'iob2') === undefined ? 'iob2' : 'iob1';
}

/**
 * The first place where sequences break `scheme`, as `sentence s, tag t: ...`, or undefined.
 * IOB2: `I-X` must follow `B-X` or `I-X`. BIOES: as IOB2 for `I-X` and `E-X`, and `B-X`/`I-X`
 * must be followed by `I-X` or `E-X`. IOB1: only `B/I` prefixes, a `B-X` must follow an `X` tag.
 * Plain: no constraint.
 */
export function schemeViolation(sequences: readonly (readonly string[])[], scheme: TagScheme): string | undefined {
  if (scheme === 'plain') return undefined;
  for (let s = 0; s < sequences.length; s++) {
    const seq = sequences[s]!;
    for (let i = 0; i < seq.length; i++) {
      const t = seq[i]!;
      if (t === 'O') continue;
      const m = PREFIXED.exec(t);
      const where = `sentence ${s + 1}, tag ${i + 1} (${JSON.stringify(t)})`;
      if (!m) return `${where}: not O nor a prefixed tag`;
      const [, p, type] = m;
      const prev = i > 0 ? PREFIXED.exec(seq[i - 1]!) : null;
      const next = i + 1 < seq.length ? PREFIXED.exec(seq[i + 1]!) : null;
      const continues = prev !== null && prev[2] === type && (prev[1] === 'B' || prev[1] === 'I');
      if (scheme === 'iob1' || scheme === 'iob2') {
        if (p !== 'B' && p !== 'I') return `${where}: ${scheme.toUpperCase()} has only B- and I- prefixes`;
        if (scheme === 'iob2' && p === 'I' && !continues) return `${where}: I-${type} does not continue a B-${type} or I-${type} (IOB2)`;
        if (scheme === 'iob1' && p === 'B' && !(prev !== null && prev[2] === type)) return `${where}: B-${type} does not follow a ${type} entity (IOB1 uses B- only between two adjacent ones)`;
      } else {
        if ((p === 'I' || p === 'E') && !continues) return `${where}: ${p}-${type} does not continue a B-${type} or I-${type} (BIOES)`;
        const closes = next !== null && next[2] === type && (next[1] === 'I' || next[1] === 'E');
        if ((p === 'B' || p === 'I') && !closes) return `${where}: ${p}-${type} is not followed by I-${type} or E-${type} (BIOES)`;
      }
    }
  }
  return undefined;
}

/** Word-level accuracy over sentences: the fraction of words whose predicted tag is the gold tag. */
export function tokenAccuracy(pred: readonly (readonly string[])[], gold: readonly (readonly string[])[]): number {
  let ok = 0, n = 0;
  for (let s = 0; s < gold.length; s++) {
    const g = gold[s]!, p = pred[s] ?? [];
    for (let i = 0; i < g.length; i++) {
      n++;
      if (p[i] === g[i]) ok++;
    }
  }
  return n === 0 ? 0 : ok / n;
}
