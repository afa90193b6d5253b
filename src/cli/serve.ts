/** `electra serve`: an HTTP inference server for one model, with dynamic batching. */
import { ElectraError } from '../errors';
import { createServer } from '../serve/server';
import { setNumThreads } from '../runtime';
import { num, parse, precisionOf } from './args';

const USAGE = `usage: electra serve --model DIR [options]

Serves one model over HTTP; its head (config.json) picks the routes:
  every head                 POST /embed, /tokenize, /v1/embeddings (OpenAI)
  sequence classification    POST /predict, /rerank
  token classification       POST /tag
  question answering         POST /answer
  discriminator              POST /detect
  always                     GET /health, /info, /metrics (Prometheus)

options:
  --model DIR                    a Hugging Face directory with tokenizer files
  --port N                       default 8080 (0: any free port)
  --host H                       default 127.0.0.1 (0.0.0.0: every interface)
  --max-batch-tokens N           padded tokens per merged forward pass (default 16384)
  --max-batch-requests N         requests merged into one forward pass (default 64; 1: no batching)
  --max-wait-ms N                longest wait for a batch to fill (default 2; never when idle and alone)
  --max-concurrent-requests N    past it, 429 with Retry-After (default 512)
  --max-client-batch-size N      entries of inputs per request; past it, 422 (default 32)
  --payload-limit BYTES          request body size; past it, 413 (default 2097152)
  --request-timeout MS           a request still running after MS gets 503 (default 30000; 0: none)
  --shutdown-timeout MS          on SIGTERM/SIGINT, longest wait for requests in flight (default 30000)
  --api-key KEY                  require Authorization: Bearer KEY (or set ELECTRA_API_KEY)
  --pooling mean|cls             embedding pooling (default mean)
  --log-level L                  pino level: info (default; one JSON line per request), warn, silent...
  --threads N                    libtorch CPU threads (default: libtorch's choice, one per core);
                                 on a shared machine, fewer threads avoid oversubscription
  --device D                     cpu (default), cuda, cuda:1, ...
  --precision P                  fp32 (default) or bf16
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'max-batch-tokens': { type: 'string' },
    'max-batch-requests': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    'max-concurrent-requests': { type: 'string' },
    'max-client-batch-size': { type: 'string' },
    'payload-limit': { type: 'string' },
    'request-timeout': { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    'api-key': { type: 'string' },
    pooling: { type: 'string' },
    'log-level': { type: 'string' },
    threads: { type: 'string' },
    device: { type: 'string' },
    precision: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.model) throw new ElectraError('ERR_CONFIG', '--model is required');
  const pooling = values.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new ElectraError('ERR_CONFIG', `--pooling must be mean or cls, got ${JSON.stringify(pooling)}`);
  const port = num(values.port, 'port', { int: true, min: 0, max: 65535 }) ?? 8080;
  const threads = num(values.threads, 'threads', { int: true, min: 1 });
  if (threads !== undefined) setNumThreads(threads);
  const shutdownMs = num(values['shutdown-timeout'], 'shutdown-timeout', { int: true, min: 0 }) ?? 30000;
  const server = await createServer({
    model: values.model,
    device: values.device,
    precision: precisionOf(values.precision),
    pooling,
    maxBatchTokens: num(values['max-batch-tokens'], 'max-batch-tokens', { int: true, min: 1 }),
    maxBatchRequests: num(values['max-batch-requests'], 'max-batch-requests', { int: true, min: 1 }),
    maxWaitMs: num(values['max-wait-ms'], 'max-wait-ms', { min: 0 }),
    maxConcurrentRequests: num(values['max-concurrent-requests'], 'max-concurrent-requests', { int: true, min: 1 }),
    maxClientBatchSize: num(values['max-client-batch-size'], 'max-client-batch-size', { int: true, min: 1 }),
    payloadLimit: num(values['payload-limit'], 'payload-limit', { int: true, min: 1 }),
    requestTimeoutMs: num(values['request-timeout'], 'request-timeout', { int: true, min: 0 }),
    apiKey: values['api-key'] ?? (process.env.ELECTRA_API_KEY || undefined),
    logger: { level: values['log-level'] ?? 'info' },
  });
  const log = server.app.log;
  const url = await server.listen({ port, host: values.host ?? '127.0.0.1' });
  // Written whatever the log level: scripts and tests read the address (port 0 picks one).
  process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), msg: 'listening', url, model: server.model.source, head: server.model.head }) + '\n');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, shutdown_timeout_ms: shutdownMs }, 'shutting down: finishing the requests in flight');
      const timer = setTimeout(() => {
        log.error({ shutdown_timeout_ms: shutdownMs }, 'requests still in flight at the shutdown timeout; exiting');
        server.app.server.closeAllConnections();
        resolve(1);
      }, shutdownMs);
      timer.unref();
      server.close().then(
        () => {
          clearTimeout(timer);
          log.info('stopped');
          resolve(0);
        },
        (e: unknown) => {
          clearTimeout(timer);
          log.error({ err: e }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
