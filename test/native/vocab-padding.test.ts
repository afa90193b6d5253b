/*
 * Vocabulary padding (issue 7): the word embeddings and the generator's output bias may hold more
 * rows than the vocabulary (64-aligned on CUDA). Checked on the CPU with vocabMultiple 64: the
 * same training as without padding, HF shapes in everything saved, and checkpoints that move
 * between padded and unpadded trainers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config';
import { Pretrainer } from '../../src/train/pretrainer';
import type { NativeBatch, NativeTrainer } from '../../src/native';

const SP = { pad: 0, cls: 1, sep: 2, mask: 3 };
const V = 1000; // 1024 rows with padding
const disc = parseConfig({ vocab_size: V, embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 });

function batch(B: number, T: number, seed: number): NativeBatch {
  let s = seed >>> 0;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) ids[b * T + t] = t === 0 ? SP.cls : t === T - 1 ? SP.sep : 5 + Math.floor(r() * (V - 5));
  return { inputIds: ids, tokenTypeIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T).fill(1), shape: [B, T] };
}

const make = (vocabMultiple: number) =>
  Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special: SP, lr: 2e-3, warmupSteps: 2, totalSteps: 50, seed: 5, vocabMultiple });

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(a[i]!)));
  return d;
}

describe('vocabulary padding inside the model', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-vpad-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a padded trainer trains as an unpadded one, and shows HF shapes', async () => {
    // One after the other: both draw from the process's generator, which create() seeds.
    const plain = await make(1);
    const lp: number[] = [];
    for (let i = 0; i < 4; i++) lp.push((await plain.trainStep([batch(4, 32, i)])).loss);
    const padded = await make(64);
    const lq: number[] = [];
    for (let i = 0; i < 4; i++) lq.push((await padded.trainStep([batch(4, 32, i)])).loss);
    expect(maxRel(lp, lq)).toBeLessThan(1e-5);
    const sp = await plain.state('generator'), sq = await padded.state('generator');
    expect(sq.map((t) => [t.name, t.shape])).toEqual(sp.map((t) => [t.name, t.shape]));
    const emb = sq.find((t) => t.name.endsWith('word_embeddings.weight'))!;
    const bias = sq.find((t) => t.name === 'generator_lm_head.bias')!;
    expect(emb.shape).toEqual([V, 16]);
    expect(bias.shape).toEqual([V]);
    for (let k = 0; k < sp.length; k++) expect(maxRel(sp[k]!.data as Float32Array, sq[k]!.data as Float32Array)).toBeLessThan(1e-4);
    // The generator's logits at the selected positions have V columns, not the padded count.
    const x = await (padded as unknown as { n: NativeTrainer }).n.inspect(batch(2, 32, 9));
    expect(x.generatorLogits.shape[2]).toBe(V);
    await padded.saveCheckpoint(path.join(dir, 'padded'));
    await plain.saveCheckpoint(path.join(dir, 'plain'));
    plain.dispose();
    padded.dispose();
  });

  test('checkpoints move between padded and unpadded trainers and resume alike', async () => {
    // Each restores the generator state saved in its checkpoint before its step.
    const a = await Pretrainer.fromCheckpoint(path.join(dir, 'padded'), { vocabMultiple: 1 });
    const ma = await a.trainer.trainStep([batch(4, 32, 20)]);
    const b = await Pretrainer.fromCheckpoint(path.join(dir, 'plain'), { vocabMultiple: 64 });
    const mb = await b.trainer.trainStep([batch(4, 32, 20)]);
    expect(ma.step).toBe(5);
    expect(mb.step).toBe(5);
    expect(maxRel([ma.loss], [mb.loss])).toBeLessThan(1e-4);
    a.trainer.dispose();
    b.trainer.dispose();
  });

  test('the CUDA graph choice is per run: not saved, a saved one ignored, an unset override changes nothing', async () => {
    const p = await Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special: SP, cudaGraph: true, vocabMultiple: 64 });
    await p.trainStep([batch(2, 16, 1)]);
    const ck = path.join(dir, 'graph');
    await p.saveCheckpoint(ck);
    p.dispose();
    const file = path.join(ck, 'trainer_state.json');
    const st = JSON.parse(fs.readFileSync(file, 'utf8')) as { options: Record<string, unknown> };
    expect(st.options).not.toHaveProperty('cudaGraph');
    expect(st.options.vocabMultiple).toBe(64);
    // A checkpoint from before: cudaGraph false (the old default) is not carried into the run.
    fs.writeFileSync(file, JSON.stringify({ ...st, options: { ...st.options, cudaGraph: false } }));
    const r = await Pretrainer.fromCheckpoint(ck, { cudaGraph: undefined, device: 'cpu' });
    expect(r.trainer.options.cudaGraph).toBeUndefined();
    expect(r.trainer.options.vocabMultiple).toBe(64);
    r.trainer.dispose();
    const f = await Pretrainer.fromCheckpoint(ck, { cudaGraph: false });
    expect(f.trainer.options.cudaGraph).toBe(false);
    f.trainer.dispose();
  });
});
