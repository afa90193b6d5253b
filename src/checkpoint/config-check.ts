/**
 * A config.json checked against the weights it comes with, before the model is built: a config
 * whose sizes disagree with the tensors (num_hidden_layers 1e6 beside 3 layers of weights) would
 * otherwise allocate the config's model first and fail, or exhaust memory, only afterwards.
 */
import type { ElectraConfig } from '../config';
import { ElectraError } from '../errors';

/** A tensor's name and shape (a safetensors header entry, or a tensor read from a .bin). */
export interface ShapedName {
  name: string;
  shape: readonly number[];
}

/**
 * ERR_CHECKPOINT when the config's sizes disagree with the weights: the number of encoder layers,
 * and the shapes of the embeddings, the attention and the feed-forward layer of the first
 * encoder layer. Tensors the file lacks are left to the state-dict match, which lists them.
 */
export function checkConfigAgainstWeights(config: ElectraConfig, weights: readonly ShapedName[], where: string): void {
  const byName = new Map<string, readonly number[]>();
  const layers = new Set<number>();
  for (const w of weights) {
    const name = w.name.startsWith('electra.') ? w.name.slice('electra.'.length) : w.name;
    byName.set(name, w.shape);
    const m = /^encoder\.layer\.(\d+)\./.exec(name);
    if (m) layers.add(Number(m[1]));
  }
  const problems: string[] = [];
  if (layers.size > 0) {
    const count = Math.max(...layers) + 1;
    if (count !== config.num_hidden_layers) problems.push(`num_hidden_layers is ${config.num_hidden_layers}, the weights have ${count} encoder layers`);
  }
  const E = config.embedding_size;
  const H = config.hidden_size;
  const expect = (tensor: string, want: number[], fields: string[]) => {
    const got = byName.get(tensor);
    if (!got) return;
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      problems.push(`${fields.join(' / ')} (${want.join(', ')}) disagree with ${tensor} of shape [${got.join(', ')}]`);
    }
  };
  expect('embeddings.word_embeddings.weight', [config.vocab_size, E], ['vocab_size', 'embedding_size']);
  expect('embeddings.position_embeddings.weight', [config.max_position_embeddings, E], ['max_position_embeddings', 'embedding_size']);
  expect('embeddings.token_type_embeddings.weight', [config.type_vocab_size, E], ['type_vocab_size', 'embedding_size']);
  expect('encoder.layer.0.attention.self.query.weight', [H, H], ['hidden_size', 'hidden_size']);
  expect('encoder.layer.0.intermediate.dense.weight', [config.intermediate_size, H], ['intermediate_size', 'hidden_size']);
  if (problems.length) {
    throw new ElectraError('ERR_CHECKPOINT', `${where}: the config does not match the weights (refused before building the model): ${problems.join('; ')}`);
  }
}
