/** `electra doctor`: what this installation runs on. */
import { parse } from './args';
import { runtime } from '../runtime';

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: electra doctor [--json]\n');
    return 0;
  }
  const r = runtime();
  if (values.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  const rows: [string, string][] = [
    ['electra-node', r.version],
    ['node', `${r.nodeVersion} (${r.platform})`],
    ['libtorch', `${r.libtorchVersion}${r.libtorchPath ? ` at ${r.libtorchPath}` : ''}`],
    ['found via', r.libtorchSource ?? 'unknown'],
    ['build', r.buildFlags],
    ['CUDA', r.cudaAvailable ? `available, ${r.deviceCount} device(s): ${r.deviceNames.join(', ') || '?'}` : r.cudaBuild ? 'built with CUDA, no device visible' : 'not built (CPU only)'],
    ['threads', `${r.threads} intra-op, ${r.interopThreads} inter-op; ${r.executor ? 'native work on one executor thread' : "native work on Node's worker pool (ELECTRA_EXECUTOR=0)"}`],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(13)} ${v}\n`);
  return 0;
}
