/*
 * File names read out of a model or data directory stay inside it: meta.json shard names with
 * "..", absolute paths, separators or NUL bytes, and shard symlinks that resolve outside the
 * folder are refused with ERR_DATA; file names inside tokenizer_config.json are never opened.
 * Files read by a fixed name (config.json, model.safetensors, tokenizer.json, meta.json, shards)
 * must be regular files: a FIFO or a directory is refused at once instead of blocking.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { confinedPath, isRegularFile } from '../../src/util/files';
import { inspectHfDir } from '../../src/checkpoint/hf';
import { serializeSafetensors } from '../helpers/safetensors';
import { PretrainDataset, readMeta } from '../../src/data/dataset';
import { FORMAT_NAME, FORMAT_VERSION } from '../../src/data/format';
import { ElectraError } from '../../src/errors';
import { errorOf } from './fuzz-helpers';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';
import { fifo, testIf } from '../prerequisites';

const FIXTURE_TOK = path.join(__dirname, '..', 'fixtures', 'tokenizer', 'vocab');
let root: string;
beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'electra-sec-')));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));


/** FIFOs must be refused without blocking; where mkfifo is missing those tests are skipped. */
const testFifo = testIf(fifo());
function mkfifo(p: string): void {
  const r = spawnSync('mkfifo', [p], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${p}: ${(r.error?.message ?? r.stderr.trim()) || `exit ${r.status}`}`);
}

/** 3 rows of maxLength 4, uint16: (length, type boundary, 4 ids) each. */
const shardRows = () => Buffer.from(new Uint16Array([3, 2, 5, 6, 7, 0, 4, 4, 5, 6, 7, 8, 2, 1, 9, 9, 0, 0]).buffer);

/** The meta.json of a one-shard dataset of `rows` in `dir` (the shard itself is not written); returns the rows. */
function writeDataset(dir: string, file = 'shard-00000.bin', rows = shardRows()): Buffer {
  fs.mkdirSync(dir, { recursive: true });
  const meta = {
    format: FORMAT_NAME, formatVersion: FORMAT_VERSION, dtype: 'uint16', maxLength: 4, vocabSize: 20, vocabHash: 'b'.repeat(64),
    specialIds: { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 }, lowercase: true, seed: 0, counts: { examples: 3 }, source: {}, skipped: [],
    shards: [{ file, examples: 3, bytes: rows.length, sha256: createHash('sha256').update(rows).digest('hex') }],
  };
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
  return rows;
}

describe('confinedPath', () => {
  test.each([
    ['..', /goes up/],
    ['../x', /goes up/],
    ['a/../../x', /goes up/],
    ['a\\..\\..\\x', /goes up/],
    ['/etc/passwd', /absolute/],
    ['C:\\Windows\\win.ini', /absolute/],
    ['\\\\server\\share\\x', /absolute/],
    ['', /not a file name/],
    ['x\u0000y', /NUL/],
  ])('%j is refused', (name, why) => {
    const e = errorOf(() => confinedPath(root, name, 'shard', 'ERR_DATA'));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toMatch(why);
    expect(e.message).toContain('must stay inside it');
  });

  test('non-strings are refused', () => {
    for (const v of [null, 1, {}, ['x']]) expect(errorOf(() => confinedPath(root, v, 'shard', 'ERR_DATA')).message).toMatch(/not a file name/);
  });

  test('plain names, subfolders and missing files resolve inside', () => {
    fs.mkdirSync(path.join(root, 'sub'));
    fs.writeFileSync(path.join(root, 'sub', 'a.bin'), 'x');
    expect(confinedPath(root, 'sub/a.bin', 'f', 'ERR_DATA')).toBe(path.join(root, 'sub', 'a.bin'));
    expect(confinedPath(root, 'missing.bin', 'f', 'ERR_DATA')).toBe(path.join(root, 'missing.bin'));
    expect(confinedPath(root, '..a', 'f', 'ERR_DATA')).toBe(path.join(root, '..a')); // a name, not a parent
  });

  test('symlinks resolving outside are refused, symlinks inside are fine, a symlinked folder itself is fine', () => {
    const dir = path.join(root, 'd');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(root, 'secret'), 'x');
    fs.symlinkSync(path.join(root, 'secret'), path.join(dir, 'abs-link'));
    fs.symlinkSync('../secret', path.join(dir, 'rel-link'));
    fs.symlinkSync(root, path.join(dir, 'up'));
    for (const n of ['abs-link', 'rel-link', 'up/secret']) {
      expect(errorOf(() => confinedPath(dir, n, 'shard', 'ERR_DATA')).message).toMatch(/outside the directory \(a symlink\)/);
    }
    fs.writeFileSync(path.join(dir, 'real'), 'x');
    fs.symlinkSync('real', path.join(dir, 'in-link'));
    expect(confinedPath(dir, 'in-link', 'shard', 'ERR_DATA')).toBe(path.join(dir, 'in-link'));
    const alias = path.join(root, 'alias');
    fs.symlinkSync(dir, alias);
    expect(confinedPath(alias, 'real', 'shard', 'ERR_DATA')).toBe(path.join(alias, 'real'));
  });

  test('isRegularFile: files and links to files yes; directories and dangling links are refused', () => {
    fs.writeFileSync(path.join(root, 'f'), 'x');
    fs.symlinkSync('f', path.join(root, 'l'));
    expect(isRegularFile(path.join(root, 'f'), 'x', 'ERR_IO')).toBe(true);
    expect(isRegularFile(path.join(root, 'l'), 'x', 'ERR_IO')).toBe(true);
    expect(isRegularFile(path.join(root, 'none'), 'x', 'ERR_IO')).toBe(false);
    expect(errorOf(() => isRegularFile(root, 'x', 'ERR_IO')).message).toMatch(/not a regular file \(a directory\)/);
    fs.symlinkSync('nowhere', path.join(root, 'dangling'));
    expect(errorOf(() => isRegularFile(path.join(root, 'dangling'), 'x', 'ERR_IO')).message).toMatch(/symlink to a missing file/);
  });

  testFifo('isRegularFile: a FIFO is refused', () => {
    mkfifo(path.join(root, 'p'));
    expect(errorOf(() => isRegularFile(path.join(root, 'p'), 'x', 'ERR_IO'))).toMatchObject({ code: 'ERR_IO', message: expect.stringMatching(/a FIFO/) });
  });
});

describe('prepared datasets: shard names from meta.json', () => {
  test.each(['../outside.bin', '/etc/passwd', 'sub/shard.bin', '..', '.hidden', '', 'a\u0000b', 'a\\b'])('shard name %j is refused with ERR_DATA', (name) => {
    const dir = path.join(root, 'data');
    writeDataset(dir, name);
    const e = errorOf(() => PretrainDataset.open(dir));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toMatch(/plain file name/);
  });

  test('a shard that is a symlink to a file outside the folder is refused, even with the right size', () => {
    const dir = path.join(root, 'data');
    const rows = writeDataset(dir);
    fs.writeFileSync(path.join(root, 'outside.bin'), rows);
    fs.symlinkSync(path.join(root, 'outside.bin'), path.join(dir, 'shard-00000.bin'));
    const e = errorOf(() => PretrainDataset.open(dir));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toMatch(/shard "shard-00000.bin" resolves to .*outside\.bin, outside the directory/);
    fs.rmSync(path.join(dir, 'shard-00000.bin'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'shard-00000.bin'));
    expect(errorOf(() => PretrainDataset.open(dir)).message).toMatch(/outside the directory/);
  });

  test('a shard linked inside the folder, and a dataset folder that is itself a symlink, open', () => {
    const dir = path.join(root, 'data');
    const rows = writeDataset(dir);
    fs.writeFileSync(path.join(dir, 'real.bin'), rows);
    fs.symlinkSync('real.bin', path.join(dir, 'shard-00000.bin'));
    expect(PretrainDataset.open(dir).length).toBe(3);
    fs.symlinkSync(dir, path.join(root, 'alias'));
    const ds = PretrainDataset.open(path.join(root, 'alias'), { mode: 'pread' });
    expect(Array.from(ds.get(1).ids)).toEqual([5, 6, 7, 8]);
    ds.close();
  });

  test('a directory as a shard is refused at once', () => {
    const dir = path.join(root, 'data');
    writeDataset(dir);
    fs.mkdirSync(path.join(dir, 'shard-00000.bin'));
    expect(errorOf(() => PretrainDataset.open(dir)).message).toMatch(/not a regular file \(a directory\)/);
  });

  testFifo('a FIFO as a shard or as meta.json is refused at once (no blocking read)', () => {
    const dir = path.join(root, 'data');
    writeDataset(dir);
    mkfifo(path.join(dir, 'shard-00000.bin'));
    expect(errorOf(() => PretrainDataset.open(dir)).message).toMatch(/not a regular file \(a FIFO\)/);
    fs.rmSync(path.join(dir, 'meta.json'));
    mkfifo(path.join(dir, 'meta.json'));
    expect(errorOf(() => readMeta(dir))).toMatchObject({ code: 'ERR_DATA', message: expect.stringMatching(/not a regular file \(a FIFO\)/) });
  }, 10_000);

  test('token ids at or above vocabSize in a shard are ERR_DATA naming the row', () => {
    const dir = path.join(root, 'data');
    const rows = shardRows();
    rows.writeUInt16LE(20, 2 * 2); // row 0, first token = vocabSize (written so at prepare time: the checksum matches)
    writeDataset(dir, 'shard-00000.bin', rows);
    fs.writeFileSync(path.join(dir, 'shard-00000.bin'), rows);
    const ds = PretrainDataset.open(dir);
    expect(errorOf(() => ds.get(0)).message).toMatch(/row 0 is corrupt \(token id 20 at position 0 is not below vocabSize 20\)/);
    expect(Array.from(ds.get(2).ids)).toEqual([9, 9, 0, 0]);
    ds.close();
  });

  test('a meta.json claiming 10^12 rows, or a maxLength of 10^9, is refused before anything is allocated', () => {
    const dir = path.join(root, 'data');
    const rows = writeDataset(dir);
    fs.writeFileSync(path.join(dir, 'shard-00000.bin'), rows);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { shards: { examples: number; bytes: number }[]; maxLength: number };
    meta.shards[0]!.examples = 1e12;
    meta.shards[0]!.bytes = 1e12 * 12;
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
    expect(errorOf(() => PretrainDataset.open(dir)).message).toMatch(/is 36 bytes, expected 12000000000000/);
    meta.shards = [];
    meta.maxLength = 1e9;
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
    expect(errorOf(() => PretrainDataset.open(dir)).message).toMatch(/maxLength must be an integer in \[1, 1048576\]/);
  });
});

describe('tokenizer directories', () => {
  function copyTokenizer(dir: string, files = ['vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json']): void {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(FIXTURE_TOK, f), path.join(dir, f));
  }

  test('file names inside tokenizer_config.json (vocab_file, tokenizer_file) are never opened', () => {
    const dir = path.join(root, 'tok');
    copyTokenizer(dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(root, 'evil-vocab.txt'), '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nevil\n');
    Object.assign(cfg, { vocab_file: '../evil-vocab.txt', tokenizer_file: path.join(root, 'evil-vocab.txt'), name_or_path: '/etc' });
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const tok = ElectraTokenizer.load(dir);
    expect(tok.vocab()).toEqual(fs.readFileSync(path.join(FIXTURE_TOK, 'vocab.txt'), 'utf8').split('\n').filter((l) => l !== ''));
    expect(tok.tokenToId('evil')).toBeUndefined();
  });

  test('a directory named tokenizer.json is refused at once', () => {
    const dir = path.join(root, 'tok');
    copyTokenizer(dir);
    fs.mkdirSync(path.join(dir, 'tokenizer.json'));
    expect(errorOf(() => ElectraTokenizer.load(dir))).toMatchObject({ code: 'ERR_TOKENIZER', message: expect.stringMatching(/tokenizer\.json is not a regular file \(a directory\)/) });
  });

  testFifo('a FIFO named tokenizer.json or tokenizer_config.json is refused at once', () => {
    const dir = path.join(root, 'tok');
    copyTokenizer(dir);
    mkfifo(path.join(dir, 'tokenizer.json'));
    expect(errorOf(() => ElectraTokenizer.load(dir)).message).toMatch(/a FIFO/);
    fs.rmSync(path.join(dir, 'tokenizer.json'));
    fs.rmSync(path.join(dir, 'tokenizer_config.json'));
    mkfifo(path.join(dir, 'tokenizer_config.json'));
    expect(errorOf(() => ElectraTokenizer.load(dir)).message).toMatch(/tokenizer_config\.json is not a regular file \(a FIFO\)/);
  }, 10_000);

  test('tokenizer.json padding and truncation settings are dropped (we pad and truncate ourselves)', async () => {
    const json = JSON.parse(fs.readFileSync(path.join(FIXTURE_TOK, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    json.padding = { strategy: { Fixed: 1_000_000_000 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' };
    json.truncation = { direction: 'Right', max_length: 2, strategy: 'LongestFirst', stride: 0 };
    const tok = ElectraTokenizer.fromJSONString(JSON.stringify(json));
    const e = await tok.encode('the nation and the people');
    expect(e.ids.length).toBeGreaterThan(4);
    expect(e.ids.length).toBeLessThan(100);
    expect(JSON.parse(tok.toJSONString())).toMatchObject({ padding: null, truncation: null });
  });

  test('a WordPiece tokenizer.json whose unk_token is not in the vocabulary is refused when loaded, not on the first unknown word', () => {
    const json = JSON.parse(fs.readFileSync(path.join(FIXTURE_TOK, 'tokenizer.json'), 'utf8')) as { model: Record<string, unknown> };
    json.model.unk_token = '<unk>';
    expect(errorOf(() => ElectraTokenizer.fromJSONString(JSON.stringify(json)))).toMatchObject({
      code: 'ERR_TOKENIZER',
      message: expect.stringContaining('model.unk_token "<unk>" is not in model.vocab'),
    });
  });
});

describe('model directories', () => {
  function modelDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'electra', vocab_size: 10, hidden_size: 8, num_attention_heads: 2, architectures: ['ElectraForPreTraining'] }));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), serializeSafetensors([]));
  }

  test('the Hugging Face cache layout (files linked to blobs outside the snapshot) loads', () => {
    const blobs = path.join(root, 'models--x', 'blobs');
    const snap = path.join(root, 'models--x', 'snapshots', 'abc');
    modelDir(blobs);
    fs.renameSync(path.join(blobs, 'config.json'), path.join(blobs, '1111'));
    fs.renameSync(path.join(blobs, 'model.safetensors'), path.join(blobs, '2222'));
    fs.mkdirSync(snap, { recursive: true });
    fs.symlinkSync('../../blobs/1111', path.join(snap, 'config.json'));
    fs.symlinkSync('../../blobs/2222', path.join(snap, 'model.safetensors'));
    expect(inspectHfDir(snap)).toMatchObject({ head: 'discriminator', weightsFile: path.join(snap, 'model.safetensors') });
  });

  test('the weights as a directory are ERR_CHECKPOINT at once', () => {
    const dir = path.join(root, 'm');
    modelDir(dir);
    fs.rmSync(path.join(dir, 'model.safetensors'));
    fs.mkdirSync(path.join(dir, 'model.safetensors'));
    expect(errorOf(() => inspectHfDir(dir))).toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringMatching(/model\.safetensors is not a regular file \(a directory\)/) });
  });

  testFifo('config.json or the weights as a FIFO are ERR_CHECKPOINT at once', () => {
    const dir = path.join(root, 'm');
    modelDir(dir);
    fs.rmSync(path.join(dir, 'model.safetensors'));
    mkfifo(path.join(dir, 'model.safetensors'));
    expect(errorOf(() => inspectHfDir(dir)).message).toMatch(/a FIFO/);
    fs.rmSync(path.join(dir, 'config.json'));
    mkfifo(path.join(dir, 'config.json'));
    expect(errorOf(() => inspectHfDir(dir))).toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringMatching(/config\.json is not a regular file \(a FIFO\)/) });
  }, 10_000);
});
