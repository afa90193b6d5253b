/** `electra cache ls | rm`: the models in the shared Hugging Face cache. */
import { ElectraError } from '../errors';
import { hubSettings, parseHubId, removeFromCache, scanCache, type CachedRepo } from '../hub';
import { parse } from './args';
import { humanSize } from './download';

const USAGE = `usage: electra cache ls [--cache-dir DIR] [--json]
       electra cache rm ORG/NAME[@REVISION] [--cache-dir DIR]

ls   the models in the Hugging Face cache (the one Python's huggingface_hub shares), each with
     its size on disk (a blob shared by revisions counts once) and its revisions
rm   remove a model, or only one revision of it (its snapshot, the refs to it, and the blobs
     no other revision uses)

options:
  --cache-dir DIR   the cache (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)
  --json            ls: one JSON object per model
`;

function table(repos: CachedRepo[]): string {
  const rows = repos.map((r) => [
    r.repo,
    humanSize(r.size) + (r.incomplete ? ` (+${humanSize(r.incomplete)} partial)` : ''),
    r.revisions.map((v) => `${v.refs.length ? `${v.refs.join(',')}=` : ''}${v.commit.slice(0, 12)} (${v.files.length} files)`).join(' ') || '-',
    r.path,
  ]);
  const head = ['MODEL', 'SIZE', 'REVISIONS', 'PATH'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(rest, { 'cache-dir': { type: 'string' }, json: { type: 'boolean' } }, true);
  if (sub === undefined || sub === '--help' || sub === '-h' || values.help) {
    process.stdout.write(USAGE);
    return sub === undefined ? 1 : 0;
  }
  const cacheDir = hubSettings({ cacheDir: values['cache-dir'] }).cacheDir;
  if (sub === 'ls') {
    if (positionals.length) throw new ElectraError('ERR_CONFIG', 'electra cache ls takes no arguments');
    const repos = scanCache(cacheDir);
    if (values.json) {
      for (const r of repos) process.stdout.write(JSON.stringify({ ...r, lastModified: r.lastModified.toISOString() }) + '\n');
    } else if (repos.length === 0) {
      process.stdout.write(`no models in ${cacheDir}\n`);
    } else {
      process.stdout.write(table(repos));
      process.stdout.write(`${repos.length} models, ${humanSize(repos.reduce((a, r) => a + r.size, 0))} in ${cacheDir}\n`);
    }
    return 0;
  }
  if (sub === 'rm') {
    if (positionals.length !== 1) throw new ElectraError('ERR_CONFIG', 'give one model: electra cache rm org/name[@revision]');
    const id = positionals[0]!;
    const ref = parseHubId(id);
    const r = removeFromCache(cacheDir, ref.repo, id.includes('@') ? ref.revision : undefined);
    process.stdout.write(`removed ${id} (${r.removed.length} revision${r.removed.length === 1 ? '' : 's'}, ${humanSize(r.freed)} freed)\n`);
    return 0;
  }
  throw new ElectraError('ERR_CONFIG', `unknown cache command '${sub}' (ls, rm)`);
}
