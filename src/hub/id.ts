/**
 * Hugging Face Hub model ids: `org/name`, optionally `@revision` (a branch, tag or commit; a
 * revision with a slash, such as `refs/pr/1`, is written percent-encoded: `@refs%2Fpr%2F1`) and a
 * subfolder after it: `org/name@v1.0/generator`. The same grammar as `hf://` paths in Python's
 * HfFileSystem, without the scheme.
 */
import { ElectraError } from '../errors';

/** A parsed Hub reference. */
export interface HubRef {
  /** `org/name`. */
  repo: string;
  /** Branch, tag or 40-hex commit; `main` when not given. */
  revision: string;
  /** Path inside the repository, `''` for the root. */
  subfolder: string;
}

export const DEFAULT_REVISION = 'main';
export const COMMIT_RE = /^[0-9a-f]{40}$/;

// huggingface_hub's validate_repo_id: [\w.-] parts that start and end with a word character, no
// "--" or "..", 96 characters at most.
const PART = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const MAX_REPO_ID = 96;

/** Whether `s` is a valid `org/name`. */
export function isRepoId(s: string): boolean {
  const parts = s.split('/');
  return parts.length === 2 && s.length <= MAX_REPO_ID && parts.every((p) => PART.test(p)) && !s.includes('--') && !s.includes('..');
}

/**
 * Whether `s` is written like a Hub id rather than a path: `org/name...` with no leading `/`,
 * `.`, `~`, no backslash and no drive letter. (A local directory of that name still wins: see
 * resolveModel.)
 */
export function looksLikeHubId(s: string): boolean {
  if (s === '' || /^[/.~\\]/.test(s) || s.includes('\\') || /^[A-Za-z]:/.test(s)) return false;
  try {
    parseHubId(s);
    return true;
  } catch {
    return false;
  }
}

/** A revision must be a plain git ref name (no `..`, no control characters, no leading `/`). */
export function checkRevision(rev: string, where: string): string {
  // eslint-disable-next-line no-control-regex
  if (rev === '' || rev.length > 256 || /[\x00-\x20~^:?*[\\]/.test(rev) || rev.includes('..') || rev.startsWith('/') || rev.endsWith('/')) {
    throw new ElectraError('ERR_INPUT', `${where}: ${JSON.stringify(rev)} is not a valid revision (a branch, tag or commit)`);
  }
  return rev;
}

/** A subfolder: relative, `/`-separated, no `.` or `..` parts. */
export function checkSubfolder(sub: string, where: string): string {
  const s = sub.replace(/^\/+|\/+$/g, '');
  if (s === '') return '';
  // eslint-disable-next-line no-control-regex
  if (s.includes('\\') || /[\x00-\x1f]/.test(s) || s.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new ElectraError('ERR_INPUT', `${where}: subfolder ${JSON.stringify(sub)} must be a relative path without "." or ".." parts`);
  }
  return s;
}

/** Parses `org/name[@revision][/subfolder]`; ERR_INPUT naming what is wrong. */
export function parseHubId(id: string): HubRef {
  const m = /^([^/@]+\/[^/@]+)(?:@([^/]*))?(?:\/(.*))?$/.exec(id);
  if (!m || !isRepoId(m[1]!)) {
    throw new ElectraError('ERR_INPUT', `${JSON.stringify(id)} is not a Hub model id (org/name, optionally @revision and /subfolder)`);
  }
  let revision = DEFAULT_REVISION;
  if (m[2] !== undefined) {
    try {
      revision = decodeURIComponent(m[2]);
    } catch {
      throw new ElectraError('ERR_INPUT', `${JSON.stringify(id)}: the revision is not valid percent-encoding`);
    }
    checkRevision(revision, id);
  }
  return { repo: m[1]!, revision, subfolder: checkSubfolder(m[3] ?? '', id) };
}

/** The id back as a string (revision percent-encoded when it has a slash). */
export function formatHubRef(r: HubRef): string {
  const rev = r.revision === DEFAULT_REVISION ? '' : `@${encodeURIComponent(r.revision)}`;
  return `${r.repo}${rev}${r.subfolder ? `/${r.subfolder}` : ''}`;
}
