/* Directory writes and removals that are never seen half-done under the final name. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanStaleTemps, removeDirAtomic, writeDirAtomic } from '../../src/checkpoint/atomic';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-atomic-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('removeDirAtomic takes the name away first; a kill in between leaves a temporary name that cleanStaleTemps removes', () => {
  const dir = path.join(root, 'checkpoint-3');
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'trainer_state.json'), '{}');
  fs.writeFileSync(path.join(dir, 'sub', 'w.bin'), Buffer.alloc(1000));
  removeDirAtomic(dir);
  expect(fs.readdirSync(root)).toEqual([]);
  removeDirAtomic(dir); // missing: nothing to do
  // What a SIGKILL between the rename and the removal leaves:
  fs.mkdirSync(path.join(root, '.checkpoint-4.old-123-abc'));
  fs.writeFileSync(path.join(root, '.checkpoint-4.old-123-abc', 'trainer_state.json'), '{}');
  fs.mkdirSync(path.join(root, 'checkpoint-5'));
  cleanStaleTemps(root);
  expect(fs.readdirSync(root)).toEqual(['checkpoint-5']);
});

test('writeDirAtomic: a failing fill leaves neither the target nor a temporary directory', async () => {
  const target = path.join(root, 'checkpoint-1');
  await expect(writeDirAtomic(target, (tmp) => {
    fs.writeFileSync(path.join(tmp, 'a'), 'x');
    const e = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
    e.code = 'ENOSPC';
    throw e;
  })).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('checkpoint-1: no space left on the device') });
  expect(fs.readdirSync(root)).toEqual([]);
});
