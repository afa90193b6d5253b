/* Bounds before work: a config.json whose sizes disagree with its weights is refused before the model is built. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { trainVocabulary } from '../../src/tokenizer/vocab';
import { MAX_VOCAB_SIZE } from '../../src/tokenizer/trainer';

const FIX = path.join(__dirname, '..', 'fixtures', 'models');

describe('a config that disagrees with its weights', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-bounds-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A copy of the `base` fixture with config fields replaced. */
  function withConfig(name: string, patch: Record<string, unknown>): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(FIX, 'base', 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(FIX, 'base', 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, ...patch }));
    return dir;
  }

  test('num_hidden_layers 1e6 beside a few layers of weights: ERR_CHECKPOINT at once, nothing allocated', async () => {
    const layers = (JSON.parse(fs.readFileSync(path.join(FIX, 'base', 'config.json'), 'utf8')) as { num_hidden_layers: number }).num_hidden_layers;
    const dir = withConfig('layers', { num_hidden_layers: 1_000_000 });
    const rss = process.memoryUsage().rss;
    const t0 = Date.now();
    const err = await Electra.load(dir).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining(`num_hidden_layers is 1000000, the weights have ${layers} encoder layers`) });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(512 * 2 ** 20);
  });

  test.each([
    ['hidden_size', { hidden_size: 64, num_attention_heads: 2 }, /hidden_size/],
    ['intermediate_size', { intermediate_size: 1 << 20 }, /intermediate_size .* disagree with encoder\.layer\.0\.intermediate\.dense\.weight/],
    ['vocab_size', { vocab_size: 1 << 24 }, /vocab_size .* disagree with embeddings\.word_embeddings\.weight/],
    ['max_position_embeddings', { max_position_embeddings: 1 << 20 }, /max_position_embeddings/],
  ])('%s larger than the weights: ERR_CHECKPOINT naming the field', async (name, patch, msg) => {
    await expect(Electra.load(withConfig(name, patch))).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringMatching(msg) });
  });

  test('the fixture itself still loads', async () => {
    const m = await Electra.load(path.join(FIX, 'base'));
    m.dispose();
  });
});

describe('vocabulary size', () => {
  test(`above ${MAX_VOCAB_SIZE} (2^22): ERR_CONFIG before the corpus is read`, async () => {
    // A corpus that does not exist: the size is refused first.
    await expect(trainVocabulary('/nonexistent/corpus.txt', { size: MAX_VOCAB_SIZE + 1 })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/above the maximum 4194304/) });
    await expect(trainVocabulary('/nonexistent/corpus.txt', { size: 1e12 })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    await expect(trainVocabulary('/nonexistent/corpus.txt', { size: 3 })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });
});
