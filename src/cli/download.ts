/** `electra download`: a model from the Hugging Face Hub into the shared cache; prints its snapshot directory. */
import { ElectraError } from '../errors';
import { downloadModel } from '../hub';
import { parse } from './args';
import { cliHub } from './hub';

const USAGE = `usage: electra download ORG/NAME[@REVISION][/SUBFOLDER] [options]

Fetches a model from the Hugging Face Hub into the cache shared with Python's huggingface_hub
and prints its snapshot directory (which --model, --init-from and --tokenizer also accept, as
does the id itself). Only what electra-node reads is fetched: config.json (an ELECTRA config),
the weights (model.safetensors, else pytorch_model.bin; sharded ones with their index) and the
tokenizer files. A file already cached for the resolved commit is not fetched again; an
interrupted download resumes where it stopped.

options:
  --revision REV     branch, tag or commit (the same as @REV in the id)
  --tokenizer-only   only the tokenizer files
  --verify           re-check the sha256 of cached weights; fetch again what differs
  --offline          only look in the cache (as HF_HUB_OFFLINE=1)
  --cache-dir DIR    the cache (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)
  --quiet            no progress bar and no summary
  --json             print {"id", "commit", "path", "files", "downloaded"} instead of the path

environment: HF_ENDPOINT (a mirror), HF_TOKEN (else the token file HF_HOME/token) for gated and
private models, HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE. Models: docs/models.md.
`;

/** Bytes for people: 54.2 MB. */
export function humanSize(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let x = n;
  let u = -1;
  while (x >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${x.toFixed(x >= 100 ? 0 : 1)} ${units[u]}`;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      revision: { type: 'string' },
      'tokenizer-only': { type: 'boolean' },
      verify: { type: 'boolean' },
      offline: { type: 'boolean' },
      'cache-dir': { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new ElectraError('ERR_CONFIG', `give one model id (org/name[@revision]), got ${positionals.length}`);
  const snap = await downloadModel(positionals[0]!, {
    ...cliHub,
    revision: values.revision,
    files: values['tokenizer-only'] ? 'tokenizer' : 'model',
    verify: values.verify ?? false,
    offline: values.offline ? true : undefined,
    cacheDir: values['cache-dir'],
    progress: values.quiet ? false : undefined,
  });
  if (values.json) process.stdout.write(JSON.stringify({ id: snap.id, commit: snap.commit, path: snap.path, files: snap.files, downloaded: snap.downloaded }) + '\n');
  else process.stdout.write(`${snap.path}\n`);
  if (!values.quiet) {
    process.stderr.write(`electra: ${snap.id} at ${snap.commit.slice(0, 12)}: ${snap.files.length} files, ${snap.downloaded ? `${humanSize(snap.downloaded)} downloaded` : 'all from the cache'}\n`);
  }
  return 0;
}
