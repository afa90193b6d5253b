/** The server's Prometheus metrics (prom-client), on a registry of its own so several servers can live in one process. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchInfo } from './batcher';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Request, queue, inference and batch metrics of one server. */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly duration: Histogram<'route'>;
  readonly queue: Histogram;
  readonly inference: Histogram;
  readonly batchSize: Histogram;
  readonly batchTokens: Histogram;
  readonly requestTokens: Histogram<'route'>;
  readonly errors: Counter<'code'>;
  readonly inFlight: Gauge;
  readonly queueDepth: Gauge;

  constructor(opts: { queueDepth: () => number; defaults?: boolean }) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'electra_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'], registers });
    this.duration = new Histogram({ name: 'electra_request_duration_seconds', help: 'Time from request to response', labelNames: ['route'], buckets: SECONDS, registers });
    this.queue = new Histogram({ name: 'electra_queue_duration_seconds', help: 'Time a request waited for its batch, summed over its forward calls', buckets: SECONDS, registers });
    this.inference = new Histogram({ name: 'electra_inference_duration_seconds', help: 'Time of each merged forward pass', buckets: SECONDS, registers });
    this.batchSize = new Histogram({ name: 'electra_batch_size', help: 'Rows per merged forward pass', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers });
    this.batchTokens = new Histogram({ name: 'electra_batch_tokens', help: 'Padded tokens per merged forward pass', buckets: [64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536], registers });
    this.requestTokens = new Histogram({ name: 'electra_request_tokens', help: 'Tokens a request sent to the model', labelNames: ['route'], buckets: [8, 32, 128, 512, 2048, 8192, 32768], registers });
    this.errors = new Counter({ name: 'electra_errors_total', help: 'Failed requests by error code', labelNames: ['code'], registers });
    this.inFlight = new Gauge({ name: 'electra_requests_in_flight', help: 'Inference requests being served', registers });
    const depth = opts.queueDepth;
    this.queueDepth = new Gauge({
      name: 'electra_queue_depth',
      help: 'Rows waiting for a forward pass',
      registers,
      collect() {
        this.set(depth());
      },
    });
    if (opts.defaults ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'electra_' });
  }

  /** Records one merged forward pass. */
  batch(b: BatchInfo): void {
    this.inference.observe(b.seconds);
    this.batchSize.observe(b.rows);
    this.batchTokens.observe(b.paddedTokens);
  }
}
