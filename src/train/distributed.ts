/**
 * Data-parallel training across processes and machines on libtorch's c10d: rendezvous through a
 * TCPStore at MASTER_ADDR:MASTER_PORT, Gloo collectives for CPU training and NCCL for CUDA,
 * gradients averaged in buckets while the backward pass runs. The environment is torchrun's (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 * MASTER_PORT; set by `electra launch`) or Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID).
 */
import { callNative, ElectraError, mapNative } from '../errors';
import { native, type NativeProcessGroup } from '../native';

export interface DistributedInit {
  rank: number;
  worldSize: number;
  localRank?: number;
  masterAddr: string;
  masterPort: number;
  /** How long a collective (or the rendezvous) may wait for the other ranks (default 30 min). */
  timeoutMs?: number;
}

/** Which backend a process group takes for training on `device`: NCCL for CUDA, Gloo for CPU. */
export function backendFor(device: string | undefined): 'gloo' | 'nccl' {
  return device?.startsWith('cuda') ? 'nccl' : 'gloo';
}

function intEnv(env: NodeJS.ProcessEnv, k: string): number | undefined {
  const v = env[k];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ElectraError('ERR_CONFIG', `environment variable ${k}=${JSON.stringify(v)} is not a non-negative integer`);
  return n;
}

/**
 * The distributed setup from the environment, or null for a single process (no WORLD_SIZE, or
 * WORLD_SIZE 1). Slurm's variables are used when torchrun's are absent.
 */
export function distributedFromEnv(env: NodeJS.ProcessEnv = process.env): DistributedInit | null {
  let world = intEnv(env, 'WORLD_SIZE');
  let rank = intEnv(env, 'RANK');
  let local = intEnv(env, 'LOCAL_RANK');
  if (world === undefined && env.SLURM_NTASKS !== undefined) {
    world = intEnv(env, 'SLURM_NTASKS');
    rank = intEnv(env, 'SLURM_PROCID');
    local = intEnv(env, 'SLURM_LOCALID');
  }
  if (world === undefined || world <= 1) return null;
  if (rank === undefined) throw new ElectraError('ERR_CONFIG', 'WORLD_SIZE is set but RANK is not');
  if (rank >= world) throw new ElectraError('ERR_CONFIG', `RANK ${rank} is not below WORLD_SIZE ${world}`);
  const addr = env.MASTER_ADDR ?? env.SLURM_LAUNCH_NODE_IPADDR;
  if (!addr) throw new ElectraError('ERR_CONFIG', 'MASTER_ADDR is not set (the address of rank 0)');
  const port = intEnv(env, 'MASTER_PORT') ?? 29500;
  if (port < 1 || port > 65535) throw new ElectraError('ERR_CONFIG', `MASTER_PORT ${port} is outside [1, 65535]`);
  const t = intEnv(env, 'ELECTRA_DIST_TIMEOUT_MS');
  return { rank, worldSize: world, localRank: local ?? rank, masterAddr: addr, masterPort: port, ...(t ? { timeoutMs: t } : {}) };
}

/** A process group: every rank creates one with the same MASTER_ADDR/PORT and WORLD_SIZE. */
export class ProcessGroup {
  #n: NativeProcessGroup | undefined;
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: 'gloo' | 'nccl';

  private constructor(n: NativeProcessGroup, rank: number, world: number, backend: 'gloo' | 'nccl') {
    this.#n = n;
    this.rank = rank;
    this.worldSize = world;
    this.backend = backend;
  }

  /**
   * Joins the group (waits for all ranks, up to the timeout). `device` is where the model trains:
   * CUDA devices use NCCL (with this rank's device), CPU uses Gloo.
   */
  static async create(init: DistributedInit, device = 'cpu'): Promise<ProcessGroup> {
    const a = native();
    if (!a.distributedAvailable) {
      throw new ElectraError(
        'ERR_DISTRIBUTED',
        'this build has no distributed support: install the Gloo headers (Debian/Ubuntu: apt install libgloo-dev) and rebuild (npm run build:native); CUDA builds also need nccl.h for NCCL',
      );
    }
    const backend = backendFor(device);
    const have = a.distributedBackends ?? ['gloo'];
    if (!have.includes(backend)) {
      throw new ElectraError(
        'ERR_DISTRIBUTED',
        backend === 'nccl'
          ? `training on ${device} across processes needs NCCL, which this build lacks (backends: ${have.join(', ') || 'none'}): build with CUDA where nccl.h is found (CUDA toolkit, NCCL_ROOT or the nvidia-nccl wheel), or train on CPU`
          : `this build has no Gloo backend for CPU training (backends: ${have.join(', ') || 'none'}): install the Gloo headers (apt install libgloo-dev) and rebuild`,
      );
    }
    const idx = backend === 'nccl' ? Number(device.split(':')[1] ?? init.localRank ?? 0) : -1;
    const n = await mapNative(
      callNative(() =>
        a.createProcessGroup({ rank: init.rank, world: init.worldSize, addr: init.masterAddr, port: init.masterPort, timeoutMs: init.timeoutMs ?? 1_800_000, backend, device: idx }),
      ),
    );
    return new ProcessGroup(n, init.rank, init.worldSize, backend);
  }

  /** @internal the native handle */
  get native(): NativeProcessGroup {
    if (!this.#n) throw new ElectraError('ERR_DISPOSED', 'the process group has been disposed');
    return this.#n;
  }

  /** The maximum of `x` over ranks (how ranks agree to stop together). */
  async allreduceMax(x: number): Promise<number> {
    return mapNative(callNative(() => this.native.allreduceMax(x)));
  }

  async barrier(): Promise<void> {
    await mapNative(callNative(() => this.native.barrier()));
  }

  dispose(): void {
    if (!this.#n) return;
    this.#n.dispose();
    this.#n = undefined;
  }
}
