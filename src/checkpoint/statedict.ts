/**
 * Matching Hugging Face state-dict names to the model's parameters: the `electra.` prefix is
 * optional, position/token-type id buffers and the tied generator output weight are ignored, and
 * every problem (missing, unexpected, mis-shaped) is listed in one ERR_CHECKPOINT.
 */
import { ElectraError } from '../errors';
import type { NamedTensor, NativeHead } from '../native';

/** HF architecture name -> our head. */
export const ARCHITECTURE_HEADS: Record<string, NativeHead> = {
  ElectraModel: 'none',
  ElectraForPreTraining: 'discriminator',
  ElectraForMaskedLM: 'generator',
  ElectraForSequenceClassification: 'sequence-classification',
  ElectraForTokenClassification: 'token-classification',
  ElectraForQuestionAnswering: 'question-answering',
};

/** Our head -> the HF class that opens a directory we save. */
export const HEAD_ARCHITECTURES: Record<NativeHead, string> = {
  none: 'ElectraModel',
  discriminator: 'ElectraForPreTraining',
  generator: 'ElectraForMaskedLM',
  'sequence-classification': 'ElectraForSequenceClassification',
  'token-classification': 'ElectraForTokenClassification',
  'question-answering': 'ElectraForQuestionAnswering',
};

const BODY = /^(embeddings|embeddings_project|encoder)\./;
const IGNORED = [/(^|\.)position_ids$/, /(^|\.)token_type_ids$/, /^generator_lm_head\.weight$/];
const HEAD_PREFIXES: Record<NativeHead, RegExp | null> = {
  none: null,
  discriminator: /^discriminator_predictions\./,
  generator: /^(generator_predictions|generator_lm_head)\./,
  'sequence-classification': /^classifier\./,
  'token-classification': /^classifier\./,
  'question-answering': /^qa_outputs\./,
};

/** The canonical (prefixed) name, or null for names that are ignored. */
export function canonicalName(name: string): string | null {
  if (IGNORED.some((r) => r.test(name))) return null;
  if (BODY.test(name)) return `electra.${name}`;
  return name;
}

/** Whether a canonical name belongs to some head other than `head` (ignored when loading). */
function otherHead(name: string, head: NativeHead): boolean {
  if (name.startsWith('electra.')) return false;
  const mine = HEAD_PREFIXES[head];
  if (mine && mine.test(name)) return false;
  return Object.values(HEAD_PREFIXES).some((r) => r !== null && r.test(name));
}

export interface MatchResult {
  /** Tensors under the model's parameter names, in the model's order. */
  tensors: NamedTensor[];
  /** Model parameters absent from the file (only when `allowMissingHead` let them through). */
  initialized: string[];
  /** File entries of another head, not loaded. */
  ignored: string[];
}

/**
 * Maps file tensors onto `expected` parameters. `allowMissingHead`: the task head may be absent
 * (a new head on a pre-trained body, as in fine-tuning); it keeps its fresh initialisation.
 */
export function matchStateDict(
  expected: { name: string; shape: number[] }[],
  incoming: NamedTensor[],
  opts: { where: string; head: NativeHead; allowMissingHead?: boolean },
): MatchResult {
  const byName = new Map<string, NamedTensor>();
  const ignored: string[] = [];
  const unexpected: string[] = [];
  const want = new Map(expected.map((e) => [e.name, e.shape]));
  for (const t of incoming) {
    const c = canonicalName(t.name);
    if (c === null) continue;
    if (!want.has(c)) {
      if (otherHead(c, opts.head)) ignored.push(t.name);
      else unexpected.push(t.name);
      continue;
    }
    if (byName.has(c)) unexpected.push(`${t.name} (duplicate of ${c})`);
    byName.set(c, { ...t, name: c });
  }
  const missing: string[] = [];
  const initialized: string[] = [];
  const misShaped: string[] = [];
  const tensors: NamedTensor[] = [];
  const headRe = HEAD_PREFIXES[opts.head];
  for (const [name, shape] of want) {
    const t = byName.get(name);
    if (!t) {
      if (opts.allowMissingHead && headRe && headRe.test(name)) initialized.push(name);
      else missing.push(name);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      misShaped.push(`${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
      continue;
    }
    tensors.push(t);
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.length} weight(s): ${missing.join(', ')}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.length} weight(s): ${unexpected.join(', ')}`);
  if (misShaped.length) problems.push(`mis-shaped: ${misShaped.join('; ')}`);
  if (problems.length) throw new ElectraError('ERR_CHECKPOINT', `${opts.where}: ${problems.join('; ')}`);
  return { tensors, initialized, ignored };
}

/** Names as HF writes them: ElectraModel's own keys carry no `electra.` prefix. */
export function savedName(name: string, head: NativeHead): string {
  return head === 'none' && name.startsWith('electra.') ? name.slice('electra.'.length) : name;
}
