/**
 * The Hugging Face cache layout, as Python's huggingface_hub writes it (so both share one cache):
 *
 *   <cache>/models--org--name/blobs/<etag>                 file contents, named by etag
 *                             blobs/<etag>.incomplete      a download in progress (resumed)
 *                             snapshots/<commit>/<file>    relative symlink into blobs/ (a copy where
 *                                                          symlinks fail)
 *                             refs/<revision>              the commit a branch or tag resolved to
 *                             .no_exist/<commit>/<file>    empty marker: the file is not in that commit
 *   <cache>/.locks/models--org--name/<etag>.lock           Python's flock; ours is <etag>.node.lock
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraError } from '../errors';
import { COMMIT_RE } from './id';

/** `models--org--name`. */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

/** The file `rel` (`/`-separated, already checked) under `root`. */
function under(root: string, rel: string): string {
  return path.join(root, ...rel.split('/'));
}

function ioError(what: string, e: unknown): ElectraError {
  return new ElectraError('ERR_IO', `${what}: ${(e as Error).message}`, { cause: e });
}

/** One repository's folder in the cache. */
export class RepoCache {
  readonly dir: string;
  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    this.dir = path.join(cacheDir, repoFolderName(repo));
  }

  blobPath(etag: string): string {
    return path.join(this.dir, 'blobs', etag);
  }

  snapshotDir(commit: string): string {
    return path.join(this.dir, 'snapshots', commit);
  }

  pointerPath(commit: string, file: string): string {
    return under(this.snapshotDir(commit), file);
  }

  lockPath(etag: string): string {
    return path.join(this.cacheDir, '.locks', repoFolderName(this.repo), `${etag}.node.lock`);
  }

  /** The commit `refs/<revision>` holds, if any. A commit hash is its own answer. */
  readRef(revision: string): string | undefined {
    if (COMMIT_RE.test(revision)) return revision;
    let text: string;
    try {
      text = fs.readFileSync(under(path.join(this.dir, 'refs'), revision), 'utf8').trim();
    } catch {
      return undefined;
    }
    return COMMIT_RE.test(text) ? text : undefined;
  }

  /** Records that `revision` resolved to `commit` (nothing to record for a commit). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const file = under(path.join(this.dir, 'refs'), revision);
    try {
      if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === commit) return;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, commit); // no newline, as Python writes it
      fs.renameSync(tmp, file);
    } catch (e) {
      throw ioError(`cannot write ${file}`, e);
    }
  }

  /** Whether the snapshot of `commit` has `file` (a link to an existing blob, or a copy). */
  has(commit: string, file: string): boolean {
    try {
      return fs.statSync(this.pointerPath(commit, file)).isFile();
    } catch {
      return false;
    }
  }

  isNoExist(commit: string, file: string): boolean {
    return fs.existsSync(under(path.join(this.dir, '.no_exist', commit), file));
  }

  markNoExist(commit: string, file: string): void {
    const f = under(path.join(this.dir, '.no_exist', commit), file);
    try {
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.closeSync(fs.openSync(f, 'a'));
    } catch {
      // best effort, as in Python: the marker only saves a request next time
    }
  }

  /**
   * Points `snapshots/<commit>/<file>` at `blob`: a relative symlink, or a copy where the file
   * system refuses symlinks. Made under a temporary name and renamed, so the name never shows a
   * half-made link or a partial copy.
   */
  link(blob: string, commit: string, file: string): string {
    const dst = this.pointerPath(commit, file);
    const tmp = `${dst}.${process.pid}.${Date.now()}.tmp`;
    try {
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      try {
        fs.symlinkSync(path.relative(path.dirname(dst), blob), tmp);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EACCES' && code !== 'EINVAL') throw e;
        fs.copyFileSync(blob, tmp);
      }
      fs.renameSync(tmp, dst);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw ioError(`cannot place ${file} in ${this.snapshotDir(commit)}`, e);
    }
    return dst;
  }
}

/** A cached revision, for `electra cache ls`. */
export interface CachedRevision {
  commit: string;
  refs: string[];
  files: string[];
}

/** A cached model repository, for `electra cache ls`. */
export interface CachedRepo {
  repo: string;
  path: string;
  /** Bytes on disk: the blobs plus any snapshot copies (a blob shared by revisions counts once). */
  size: number;
  /** Bytes of unfinished downloads (`*.incomplete`), not in `size`. */
  incomplete: number;
  revisions: CachedRevision[];
  lastModified: Date;
}

function walkFiles(root: string, rel = ''): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walkFiles(root, r));
    else out.push(r);
  }
  return out;
}

/** Reads one repository folder. */
export function scanRepo(cacheDir: string, folder: string): CachedRepo | undefined {
  const m = /^models--(.+)$/.exec(folder);
  if (!m) return undefined;
  const repo = m[1]!.split('--').join('/');
  const dir = path.join(cacheDir, folder);
  let size = 0;
  let incomplete = 0;
  let last = 0;
  for (const b of walkFiles(path.join(dir, 'blobs'))) {
    const st = fs.lstatSync(path.join(dir, 'blobs', b));
    if (b.endsWith('.incomplete')) incomplete += st.size;
    else size += st.size;
    last = Math.max(last, st.mtimeMs);
  }
  const refsByCommit = new Map<string, string[]>();
  for (const r of walkFiles(path.join(dir, 'refs'))) {
    if (r.endsWith('.tmp')) continue;
    const c = fs.readFileSync(path.join(dir, 'refs', r), 'utf8').trim();
    refsByCommit.set(c, [...(refsByCommit.get(c) ?? []), r]);
  }
  const revisions: CachedRevision[] = [];
  let commits: string[] = [];
  try {
    commits = fs.readdirSync(path.join(dir, 'snapshots'));
  } catch {
    // no snapshot yet
  }
  for (const commit of commits.sort()) {
    const files = walkFiles(path.join(dir, 'snapshots', commit)).filter((f) => !f.endsWith('.tmp'));
    for (const f of files) {
      const st = fs.lstatSync(path.join(dir, 'snapshots', commit, f));
      if (!st.isSymbolicLink()) size += st.size; // a copy (no symlink support)
    }
    revisions.push({ commit, refs: (refsByCommit.get(commit) ?? []).sort(), files: files.sort() });
  }
  if (last === 0) last = fs.statSync(dir).mtimeMs;
  return { repo, path: dir, size, incomplete, revisions, lastModified: new Date(last) };
}

/** The model repositories in a cache (none when the cache does not exist yet). */
export function scanCache(cacheDir: string): CachedRepo[] {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(`cannot read the cache ${cacheDir}`, e);
  }
  return names
    .sort()
    .map((n) => (fs.statSync(path.join(cacheDir, n)).isDirectory() ? scanRepo(cacheDir, n) : undefined))
    .filter((r): r is CachedRepo => r !== undefined);
}

/**
 * Removes a repository from the cache, or only one revision of it (its snapshot, the refs that
 * point at it, its `.no_exist` markers, and the blobs no other snapshot uses). Returns the bytes
 * freed; ERR_NOT_FOUND when there is nothing of that name.
 */
export function removeFromCache(cacheDir: string, repo: string, revision?: string): { freed: number; removed: string[] } {
  const rc = new RepoCache(cacheDir, repo);
  const before = fs.existsSync(rc.dir) ? scanRepo(cacheDir, repoFolderName(repo)) : undefined;
  if (!before) throw new ElectraError('ERR_NOT_FOUND', `${repo} is not in the cache ${cacheDir}`);
  if (revision === undefined) {
    fs.rmSync(rc.dir, { recursive: true, force: true });
    fs.rmSync(path.join(cacheDir, '.locks', repoFolderName(repo)), { recursive: true, force: true });
    return { freed: before.size + before.incomplete, removed: before.revisions.map((r) => r.commit) };
  }
  const commit = rc.readRef(revision);
  const rev = commit === undefined ? undefined : before.revisions.find((r) => r.commit === commit);
  if (!rev) throw new ElectraError('ERR_NOT_FOUND', `revision ${revision} of ${repo} is not in the cache ${cacheDir}`);
  const keep = new Set<string>();
  for (const other of before.revisions) {
    if (other.commit === rev.commit) continue;
    for (const f of other.files) {
      try {
        keep.add(fs.realpathSync(path.join(rc.snapshotDir(other.commit), ...f.split('/'))));
      } catch {
        // dangling: keeps nothing
      }
    }
  }
  const blobs = new Set<string>();
  for (const f of rev.files) {
    try {
      blobs.add(fs.realpathSync(path.join(rc.snapshotDir(rev.commit), ...f.split('/'))));
    } catch {
      // dangling
    }
  }
  fs.rmSync(rc.snapshotDir(rev.commit), { recursive: true, force: true });
  fs.rmSync(path.join(rc.dir, '.no_exist', rev.commit), { recursive: true, force: true });
  for (const r of rev.refs) fs.rmSync(path.join(rc.dir, 'refs', ...r.split('/')), { force: true });
  if (fs.existsSync(path.join(rc.dir, 'blobs'))) {
    const blobsDir = fs.realpathSync(path.join(rc.dir, 'blobs'));
    for (const b of blobs) if (!keep.has(b) && path.dirname(b) === blobsDir) fs.rmSync(b, { force: true });
  }
  const after = scanRepo(cacheDir, repoFolderName(repo));
  return { freed: before.size + before.incomplete - ((after?.size ?? 0) + (after?.incomplete ?? 0)), removed: [rev.commit] };
}
