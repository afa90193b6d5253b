/**
 * `electra launch`: starts N local worker processes of an electra command with torchrun's
 * environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards
 * signals to them, and stops them all when one fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as os from 'node:os';
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
Rank 0 writes the logs, metrics and checkpoints; --batch is per process. With pretrain --corpus,
rank 0 trains the vocabulary and prepares the data under --out while the other ranks wait.
Each rank's output other than rank 0's is prefixed with [rank r]. SIGINT and SIGTERM are forwarded to the ranks;
the job exits with rank 0's code (130 or 143 for an interrupted pre-training run, its checkpoint written).`;

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

/**
 * Processes per node at most. Each rank loads libtorch and a copy of the model (hundreds of MiB)
 * before it can fail, so a mistyped `--nproc 10000` is refused before any rank starts. `--batch`
 * is per process, so it sets no bound on the rank count.
 */
export const MAX_NPROC = 256;

interface LaunchPlan {
  nproc: number;
  nodeRank: number;
  world: number;
  addr: string;
  port: number;
  threads: number;
  /** The electra command each rank runs (after --). */
  cmd: string[];
  /** Identifies the job: random on one node, the rendezvous address on several (every node must agree). */
  jobId: string;
}

/** The launch from the command line; undefined after --help. */
async function planLaunch(argv: string[]): Promise<LaunchPlan | undefined> {
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
    return undefined;
  }
  const nproc = num(v.nproc, 'nproc', { int: true, min: 1, max: MAX_NPROC });
  if (nproc === undefined) throw new ElectraError('ERR_CONFIG', '--nproc is required');
  const nnodes = num(v.nnodes, 'nnodes', { int: true, min: 1, max: 4096 }) ?? 1;
  const nodeRank = num(v['node-rank'], 'node-rank', { int: true, min: 0, max: nnodes - 1 }) ?? 0;
  if (nnodes > 1 && !v['master-addr']) throw new ElectraError('ERR_CONFIG', '--master-addr is required with --nnodes > 1');
  if (cmd.length === 0) throw new ElectraError('ERR_CONFIG', 'give the command to run after --, e.g. -- pretrain --data DIR ...');
  if (cmd[0] === 'launch') throw new ElectraError('ERR_CONFIG', 'launch cannot launch itself');
  const addr = v['master-addr'] ?? '127.0.0.1';
  const port = num(v['master-port'], 'master-port', { int: true, min: 1, max: 65535 }) ?? (nnodes === 1 ? await freePort() : 29500);
  const { cpus } = await import('node:os');
  const threads = num(v.threads, 'threads', { int: true, min: 1 }) ?? Math.max(1, Math.floor(cpus().length / nproc));
  const jobId = nnodes === 1 ? randomBytes(8).toString('hex') : `${addr}-${port}`;
  return { nproc, nodeRank, world: nproc * nnodes, addr, port, threads, cmd, jobId };
}

/** Copies a rank's output line by line, each line prefixed with the rank. */
function prefixLines(stream: NodeJS.ReadableStream | null, to: NodeJS.WriteStream, rank: number): void {
  let buf = '';
  stream?.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split(/\r?\n/);
    buf = lines.pop()!;
    for (const l of lines) if (l.trim()) to.write(`[rank ${rank}] ${l}\n`);
  });
}

/** This node's ranks: when one fails, the others are stopped (SIGTERM, then SIGKILL after 30 s). */
class Ranks {
  readonly children: ChildProcess[] = [];
  readonly #exits: Promise<void>[] = [];
  failed: { rank: number; code: number } | null = null;
  /** Set when an interrupt was forwarded: the ranks' exits are then not failures. */
  stopping = false;

  spawn(plan: LaunchPlan, local: number): void {
    const rank = plan.nodeRank * plan.nproc + local;
    const env = {
      ...process.env,
      RANK: String(rank),
      WORLD_SIZE: String(plan.world),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(plan.nproc),
      GROUP_RANK: String(plan.nodeRank),
      MASTER_ADDR: plan.addr,
      MASTER_PORT: String(plan.port),
      // Names this job's files (pretrain --corpus: rank 0's "corpus ready" note); the same on every node.
      ELECTRA_LAUNCH_ID: plan.jobId,
      OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? String(plan.threads),
    };
    const cli = path.join(packageRoot(), 'bin', 'electra.cjs');
    const child = spawn(process.execPath, [cli, ...plan.cmd], { env, stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    if (rank !== 0) {
      prefixLines(child.stdout, process.stdout, rank);
      prefixLines(child.stderr, process.stderr, rank);
    }
    this.children.push(child);
    this.#exits.push(new Promise((resolve) => child.on('exit', (code, signal) => {
      this.#onExit(rank, code, signal);
      resolve();
    })));
  }

  #onExit(rank: number, code: number | null, signal: NodeJS.Signals | null): void {
    const c = code ?? (signal ? 128 + 1 : 1);
    if (c === 0 || this.failed || this.stopping) return;
    this.failed = { rank, code: c };
    process.stderr.write(`electra launch: rank ${rank} exited with ${signal ?? c}; stopping the others\n`);
    for (const o of this.children) if (o.exitCode === null) o.kill('SIGTERM');
    setTimeout(() => {
      for (const o of this.children) if (o.exitCode === null && o.signalCode === null) o.kill('SIGKILL');
    }, 30_000).unref();
  }

  /** Waits for every rank, forwarding SIGINT and SIGTERM to them meanwhile; returns the exit code. */
  async wait(): Promise<number> {
    const forward = (sig: NodeJS.Signals) => () => {
      this.stopping = sig === 'SIGINT' || sig === 'SIGTERM';
      for (const c of this.children) if (c.exitCode === null) c.kill(sig);
    };
    const onInt = forward('SIGINT'), onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    try {
      await Promise.all(this.#exits);
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
    if (this.failed) return this.failed.code;
    // After a forwarded interrupt the ranks exit 130 (SIGINT) or 143 (SIGTERM) once their
    // checkpoint is written: the job exits with rank 0's code (the first non-zero one otherwise).
    const codes = this.children.map((c) => c.exitCode ?? (c.signalCode ? 128 + (os.constants.signals[c.signalCode] ?? 1) : 1));
    return codes[0] || codes.find((c) => c !== 0) || 0;
  }
}

export async function run(argv: string[]): Promise<number> {
  const plan = await planLaunch(argv);
  if (!plan) return 0;
  const ranks = new Ranks();
  for (let i = 0; i < plan.nproc; i++) ranks.spawn(plan, i);
  return ranks.wait();
}
