/**
 * `electra launch`: starts N local worker processes of an electra command with torchrun's
 * environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards
 * signals to them, and stops them all when one fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { ElectraError } from '../errors';
import { packageRoot } from '../native';
import { num, parse } from './args';

const HELP = `usage: electra launch --nproc N [--nnodes M --node-rank R --master-addr A --master-port P] -- COMMAND [OPTIONS]

Runs N copies of \`electra COMMAND\` on this machine as ranks of one data-parallel job (c10d, Gloo),
like torchrun. Example: electra launch --nproc 2 -- pretrain --data data --tokenizer tok --steps 1000 --out runs/x
  --nproc N         processes on this node (required)
  --nnodes M        nodes in the job (1)        --node-rank R   this node's index (0)
  --master-addr A   address of rank 0's node (127.0.0.1; required with --nnodes > 1)
  --master-port P   a free TCP port on it (29500; on one node a free one is picked when not given)
  --threads N       libtorch threads per process (default: cores / nproc)
Rank 0 writes the logs, metrics and checkpoints; --batch is per process. Each rank's output
other than rank 0's is prefixed with [rank r].`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function run(argv: string[]): Promise<number> {
  const sep = argv.indexOf('--');
  const own = sep < 0 ? argv : argv.slice(0, sep);
  const cmd = sep < 0 ? [] : argv.slice(sep + 1);
  const { values: v } = parse(own, {
    nproc: { type: 'string' },
    nnodes: { type: 'string' },
    'node-rank': { type: 'string' },
    'master-addr': { type: 'string' },
    'master-port': { type: 'string' },
    threads: { type: 'string' },
  });
  if (v.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const nproc = num(v.nproc, 'nproc', { int: true, min: 1, max: 1024 });
  if (nproc === undefined) throw new ElectraError('ERR_CONFIG', '--nproc is required');
  const nnodes = num(v.nnodes, 'nnodes', { int: true, min: 1 }) ?? 1;
  const nodeRank = num(v['node-rank'], 'node-rank', { int: true, min: 0, max: nnodes - 1 }) ?? 0;
  if (nnodes > 1 && !v['master-addr']) throw new ElectraError('ERR_CONFIG', '--master-addr is required with --nnodes > 1');
  if (cmd.length === 0) throw new ElectraError('ERR_CONFIG', 'give the command to run after --, e.g. -- pretrain --data DIR ...');
  if (cmd[0] === 'launch') throw new ElectraError('ERR_CONFIG', 'launch cannot launch itself');
  const addr = v['master-addr'] ?? '127.0.0.1';
  const port = num(v['master-port'], 'master-port', { int: true, min: 1, max: 65535 }) ?? (nnodes === 1 ? await freePort() : 29500);
  const { cpus } = await import('node:os');
  const threads = num(v.threads, 'threads', { int: true, min: 1 }) ?? Math.max(1, Math.floor(cpus().length / nproc));
  const world = nproc * nnodes;
  const cli = path.join(packageRoot(), 'bin', 'electra.cjs');
  const children: ChildProcess[] = [];
  let failed: { rank: number; code: number } | null = null;
  let stopping = false;
  const exits: Promise<void>[] = [];
  for (let i = 0; i < nproc; i++) {
    const rank = nodeRank * nproc + i;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(world),
      LOCAL_RANK: String(i),
      LOCAL_WORLD_SIZE: String(nproc),
      GROUP_RANK: String(nodeRank),
      MASTER_ADDR: addr,
      MASTER_PORT: String(port),
      OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? String(threads),
    };
    const child = spawn(process.execPath, [cli, ...cmd], { env, stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    if (rank !== 0) {
      const prefix = (stream: NodeJS.ReadableStream | null, to: NodeJS.WriteStream) => {
        let buf = '';
        stream?.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split(/\r?\n/);
          buf = lines.pop()!;
          for (const l of lines) if (l.trim()) to.write(`[rank ${rank}] ${l}\n`);
        });
      };
      prefix(child.stdout, process.stdout);
      prefix(child.stderr, process.stderr);
    }
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          const c = code ?? (signal ? 128 + 1 : 1);
          if (c !== 0 && !failed && !stopping) {
            failed = { rank, code: c };
            process.stderr.write(`electra launch: rank ${rank} exited with ${signal ?? c}; stopping the others\n`);
            for (const o of children) if (o.exitCode === null) o.kill('SIGTERM');
            setTimeout(() => {
              for (const o of children) if (o.exitCode === null && o.signalCode === null) o.kill('SIGKILL');
            }, 30_000).unref();
          }
          resolve();
        });
      }),
    );
  }
  const forward = (sig: NodeJS.Signals) => () => {
    stopping = sig === 'SIGINT' || sig === 'SIGTERM';
    for (const c of children) if (c.exitCode === null) c.kill(sig);
  };
  const onInt = forward('SIGINT'), onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  const f = failed as { rank: number; code: number } | null;
  if (f) return f.code;
  return children.every((c) => c.exitCode === 0) ? 0 : 1;
}
