/**
 * One source of truth for the model shape: a zod schema that reads and writes Hugging Face
 * `config.json` (model_type "electra"). Presets are data.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { ElectraError } from '../errors';

const posInt = z.number().int().positive();
const prob = z.number().min(0).max(1);

/** HF ElectraConfig fields (unknown keys are kept and written back). */
export const electraConfigSchema = z
  .object({
    model_type: z.literal('electra').default('electra'),
    vocab_size: posInt.default(30522),
    embedding_size: posInt.default(128),
    hidden_size: posInt.default(256),
    num_hidden_layers: posInt.default(12),
    num_attention_heads: posInt.default(4),
    intermediate_size: posInt.default(1024),
    hidden_act: z.enum(['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'relu', 'silu', 'swish', 'tanh']).default('gelu'),
    hidden_dropout_prob: prob.default(0.1),
    attention_probs_dropout_prob: prob.default(0.1),
    classifier_dropout: prob.nullable().optional(),
    max_position_embeddings: posInt.default(512),
    type_vocab_size: posInt.default(2),
    initializer_range: z.number().positive().default(0.02),
    layer_norm_eps: z.number().positive().default(1e-12),
    pad_token_id: z.number().int().nonnegative().default(0),
    position_embedding_type: z.literal('absolute').default('absolute'),
    summary_type: z.string().default('first'),
    summary_use_proj: z.boolean().default(true),
    summary_activation: z.string().default('gelu'),
    summary_last_dropout: prob.default(0.1),
    architectures: z.array(z.string()).optional(),
    id2label: z.record(z.string(), z.string()).optional(),
    label2id: z.record(z.string(), z.number().int()).optional(),
    num_labels: posInt.optional(),
    problem_type: z.string().optional(),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    if (c.hidden_size % c.num_attention_heads !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['hidden_size'],
        message: `hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads}`,
      });
    }
    if (c.pad_token_id >= c.vocab_size) {
      ctx.addIssue({ code: 'custom', path: ['pad_token_id'], message: `pad_token_id ${c.pad_token_id} is not below vocab_size ${c.vocab_size}` });
    }
  });

export type ElectraConfig = z.output<typeof electraConfigSchema>;
export type ElectraConfigInput = z.input<typeof electraConfigSchema>;

/** Formats zod issues as "field: problem; field: problem". */
export function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/** Deepest nesting a config may have (HF configs nest 2-3 levels; deeper ones cannot be written back). */
export const MAX_CONFIG_DEPTH = 64;

/** Nesting depth of a JSON value, counted without recursion; stops once it exceeds `limit`. */
function depthOver(v: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d >= limit) return true;
    for (const c of Object.values(x as object)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return false;
}

/** Validates a config object; ERR_CONFIG names each wrong field. */
export function parseConfig(raw: unknown, where = 'config'): ElectraConfig {
  if (raw && typeof raw === 'object' && 'model_type' in raw && (raw as { model_type: unknown }).model_type !== 'electra') {
    const t = (raw as { model_type: unknown }).model_type;
    const shown = typeof t === 'string' ? JSON.stringify(t.length > 80 ? `${t.slice(0, 80)}…` : t) : t === null || typeof t !== 'object' ? String(t) : `a${Array.isArray(t) ? ' list' : 'n object'}`;
    throw new ElectraError('ERR_CONFIG', `${where}: model_type is ${shown}, electra-node loads "electra" models only`);
  }
  if (depthOver(raw, MAX_CONFIG_DEPTH)) throw new ElectraError('ERR_CONFIG', `${where}: nested more than ${MAX_CONFIG_DEPTH} levels deep`);
  const r = electraConfigSchema.safeParse(raw);
  if (!r.success) throw new ElectraError('ERR_CONFIG', `${where}: ${formatIssues(r.error)}`);
  return r.data;
}

/** Parses and validates the text of an HF config.json (`where` names it in errors). */
export function parseConfigText(text: string, where = 'config.json'): ElectraConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ElectraError('ERR_CONFIG', `${where} is not valid JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ElectraError('ERR_CONFIG', `${where} must hold a JSON object`);
  return parseConfig(raw, where);
}

/** Reads and validates an HF config.json. */
export function readConfigFile(file: string): ElectraConfig {
  // A number would be read as a file descriptor (0: standard input, which may never end).
  if (typeof file !== 'string' || file === '') throw new ElectraError('ERR_INPUT', `readConfigFile: the config file must be a path (a non-empty string), not ${typeof file}`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ElectraError('ERR_CHECKPOINT', `cannot read ${file}: ${(e as Error).message}`);
  }
  return parseConfigText(text, file);
}

/** Number of labels: explicit num_labels, else id2label's size, else 2 (HF's default). */
export function numLabels(c: ElectraConfig): number {
  if (c.num_labels) return c.num_labels;
  if (c.id2label) return Object.keys(c.id2label).length;
  return 2;
}

/** The JSON written to config.json (HF field names, plus our architecture). */
export function configToJson(c: ElectraConfig, architecture?: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  if (architecture) out.architectures = [architecture];
  if (c.classifier_dropout === undefined) out.classifier_dropout = null;
  if (c.id2label) out.num_labels = undefined;
  out.transformers_version = out.transformers_version ?? '4.40.0';
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export function writeConfigFile(file: string, c: ElectraConfig, architecture?: string): void {
  // Checked first: a malformed config is ERR_CONFIG, and is never written.
  const json = JSON.stringify(configToJson(parseConfig(c), architecture), null, 2) + '\n';
  try {
    fs.writeFileSync(file, json);
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** A preset: the discriminator shape, the generator's hidden fraction and pre-training defaults. */
export interface Preset {
  discriminator: Partial<ElectraConfigInput>;
  generatorFraction: number;
  maskProb: number;
  lr: number;
  batch: number;
  maxLen: number;
}

export const PRESETS: Record<'tiny' | 'small' | 'base' | 'large', Preset> = {
  tiny: {
    discriminator: { embedding_size: 32, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 128, max_position_embeddings: 128 },
    generatorFraction: 0.5,
    maskProb: 0.15,
    lr: 1e-3,
    batch: 8,
    maxLen: 64,
  },
  small: {
    discriminator: { embedding_size: 128, hidden_size: 256, num_hidden_layers: 12, num_attention_heads: 4, intermediate_size: 1024 },
    generatorFraction: 0.25,
    maskProb: 0.15,
    lr: 5e-4,
    batch: 128,
    maxLen: 128,
  },
  base: {
    discriminator: { embedding_size: 768, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072 },
    generatorFraction: 1 / 3,
    maskProb: 0.15,
    lr: 2e-4,
    batch: 256,
    maxLen: 512,
  },
  large: {
    discriminator: { embedding_size: 1024, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096 },
    generatorFraction: 0.25,
    maskProb: 0.25,
    lr: 2e-4,
    batch: 2048,
    maxLen: 512,
  },
};
export type PresetName = keyof typeof PRESETS;

export function presetConfig(name: PresetName, overrides: Partial<ElectraConfigInput> = {}): ElectraConfig {
  const p = PRESETS[name];
  if (!p) throw new ElectraError('ERR_CONFIG', `unknown preset ${JSON.stringify(name)} (tiny, small, base, large)`);
  return parseConfig({ ...p.discriminator, ...overrides });
}

/**
 * The generator's shape from the discriminator's (ELECTRA.md, Sharing and sizes): hidden scaled
 * by `fraction`, heads = hidden/64 (at least 1), FFN = 4 * hidden, same layers and embedding size.
 */
export function generatorConfig(disc: ElectraConfig, fraction: number): ElectraConfig {
  if (!(fraction > 0 && fraction <= 1)) throw new ElectraError('ERR_CONFIG', `generator fraction must be in (0, 1], got ${fraction}`);
  const hidden = Math.max(1, Math.round(disc.hidden_size * fraction));
  const heads = Math.max(1, Math.floor(hidden / 64));
  if (hidden % heads !== 0) throw new ElectraError('ERR_CONFIG', `generator hidden size ${hidden} is not divisible by ${heads} heads`);
  const { architectures: _a, id2label: _i, label2id: _l, num_labels: _n, ...rest } = disc;
  return parseConfig({ ...rest, hidden_size: hidden, num_attention_heads: heads, intermediate_size: 4 * hidden });
}
