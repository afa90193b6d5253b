/**
 * `electra` CLI entry: one file per command under src/cli/, each exporting
 * `run(argv: string[]): Promise<number>` (the exit code).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraError, toElectraError } from '../errors';
import { packageRoot } from '../native';
import { guardStdout } from './output';

type Command = { describe: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  doctor: { describe: 'show the runtime: versions, libtorch, CUDA, threads, build flags', load: () => import('./doctor') },
  vocab: { describe: 'train a WordPiece vocabulary on a corpus', load: () => import('./vocab') },
  prepare: { describe: 'tokenize a corpus into fixed-length pre-training shards', load: () => import('./prepare') },
  pretrain: { describe: 'pre-train an ELECTRA generator + discriminator', load: () => import('./pretrain') },
  demo: { describe: 'the main job: vocabulary, data, a short pre-training run, and a replaced-token demo', load: () => import('./demo') },
  finetune: { describe: 'fine-tune a pre-trained model on a labelled task (classification, regression, tagging, QA)', load: () => import('./finetune') },
  launch: { describe: 'run a command as N data-parallel processes (c10d/Gloo), like torchrun', load: () => import('./launch') },
  detect: { describe: 'show which tokens a discriminator thinks were replaced', load: () => import('./detect') },
  predict: { describe: 'run a fine-tuned model over texts: classify, tag entities, answer questions', load: () => import('./predict') },
  embed: { describe: 'text embeddings from the last hidden states (mean or [CLS] pooling)', load: () => import('./embed') },
  export: { describe: 'write a model as ONNX (fp32, int8 with --quantize q8) for onnxruntime and transformers.js', load: () => import('./export') },
  download: { describe: 'fetch a model from the Hugging Face Hub into the shared cache; prints its directory', load: () => import('./download') },
  cache: { describe: 'list (ls) or remove (rm) the models in the Hugging Face cache', load: () => import('./cache') },
  serve: { describe: 'serve a model over HTTP (TEI-shaped routes, dynamic batching, metrics)', load: () => import('./serve') },
};

function usage(): string {
  const lines = ['usage: electra <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.describe}`);
  lines.push('', 'electra <command> --help for the options of one command');
  lines.push('--model, --init-from and --tokenizer take a directory or a Hub id, org/name[@revision] (docs/models.md)');
  return lines.join('\n');
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  guardStdout(cmd ? `electra ${cmd}` : 'electra');
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd ? 0 : 1;
  }
  if (cmd === '--version' || cmd === '-v') {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`electra: unknown command '${cmd}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    const mod = await c.load();
    return await mod.run(rest);
  } catch (e) {
    const err = toElectraError(e);
    process.stderr.write(`electra ${cmd}: ${err.code}: ${err.message}\n`);
    if (process.env.ELECTRA_DEBUG && err.stack) process.stderr.write(err.stack + '\n');
    return err instanceof ElectraError && err.code === 'ERR_ABORTED' ? 130 : 1;
  }
}
