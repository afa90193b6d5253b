/**
 * `createServer`: the HTTP inference server (Fastify) over one model and a {@link Batcher}, with
 * limits (concurrency, payload, client batch, timeout, API key), one JSON log line per request
 * (pino) and Prometheus metrics (prom-client).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Electra, InferencePrecision } from '../electra';
import { ElectraError, toElectraError } from '../errors';
import { packageRoot } from '../native';
import { Batcher, type BatchLease } from './batcher';
import { ServeMetrics } from './metrics';
import { loadModel } from './model';
import * as routes from './routes';

/** Options of {@link createServer}; the CLI flags of `electra serve` map one to one. */
export interface ServerOptions {
  /** A loaded model, or a model directory to load. */
  model: Electra | string;
  device?: string;
  precision?: InferencePrecision;
  /** Name in /info and /v1/embeddings responses (default: the directory name). */
  modelId?: string;
  /** Embedding pooling (default mean). */
  pooling?: 'mean' | 'cls';
  maxBatchTokens?: number;
  /** 1: no batching across requests (one request, one forward pass). Default 64. */
  maxBatchRequests?: number;
  maxWaitMs?: number;
  /** Inference requests served at once; past it, 429 with Retry-After (default 512). */
  maxConcurrentRequests?: number;
  /** Request body bytes; past it, 413 (default 2 MiB). */
  payloadLimit?: number;
  /** Entries of `inputs`; past it, 422 (default 32). */
  maxClientBatchSize?: number;
  /** Bearer token every route but /health needs (401 without one, 403 with a wrong one). */
  apiKey?: string;
  /** Milliseconds a request may take before it is dropped with 503 (default 30000; 0: none). */
  requestTimeoutMs?: number;
  /** pino logger options, a logger, or false (default: info to stdout). */
  logger?: boolean | Record<string, unknown>;
  /** Process metrics (memory, CPU, event loop) in /metrics (default true). */
  processMetrics?: boolean;
}

/** A running (or ready to listen) server. */
export interface ElectraServer {
  /** The Fastify instance (register more routes, or `inject` requests). */
  app: FastifyInstance;
  batcher: Batcher;
  metrics: ServeMetrics;
  model: Electra;
  /** Listens; resolves to the URL (port 0 picks a free port). */
  listen(opts?: { port?: number; host?: string }): Promise<string>;
  /** Stops accepting, finishes the requests in flight, frees the model if the server loaded it. */
  close(): Promise<void>;
}

interface Ctx {
  lease: BatchLease;
  ctrl: AbortController;
  timer: NodeJS.Timeout | undefined;
  route: routes.RouteContext;
  code: string | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    electra: Ctx | null;
  }
}

const INFER: Record<string, { schema: object; handler: (c: routes.RouteContext, b: Record<string, unknown>) => Promise<unknown> }> = {
  '/embed': { schema: routes.SCHEMAS.embed, handler: routes.embedRoute },
  '/predict': { schema: routes.SCHEMAS.predict, handler: routes.predictRoute },
  '/rerank': { schema: routes.SCHEMAS.rerank, handler: routes.rerankRoute },
  '/tokenize': { schema: routes.SCHEMAS.tokenize, handler: routes.tokenizeRoute },
  '/v1/embeddings': { schema: routes.SCHEMAS.openai, handler: routes.openaiRoute },
  '/detect': { schema: routes.SCHEMAS.detect, handler: routes.detectRoute },
  '/tag': { schema: routes.SCHEMAS.tag, handler: routes.tagRoute },
  '/answer': { schema: routes.SCHEMAS.answer, handler: routes.answerRoute },
};

/** The routes a head serves (/embed, /tokenize and /v1/embeddings: every head). */
function routesFor(head: string): string[] {
  const common = ['/embed', '/tokenize', '/v1/embeddings'];
  if (head === 'sequence-classification') return [...common, '/predict', '/rerank'];
  if (head === 'token-classification') return [...common, '/tag'];
  if (head === 'question-answering') return [...common, '/answer'];
  if (head === 'discriminator') return [...common, '/detect'];
  return common;
}

/** HTTP status of an error code. */
function statusOf(code: string): number {
  switch (code) {
    case 'ERR_INPUT':
      return 422;
    case 'ERR_BUSY':
      return 429;
    case 'ERR_ABORTED':
    case 'ERR_DISPOSED':
      return 503;
    case 'ERR_CHECKPOINT':
    case 'ERR_TOKENIZER':
      return 400;
    default:
      return 500;
  }
}

function checkInt(v: number | undefined, name: string, def: number, min = 1): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) throw new ElectraError('ERR_CONFIG', `createServer: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return x;
}

/** Limits and settings of {@link ServerOptions}, checked, with their defaults. */
interface Settings {
  maxConcurrent: number;
  payloadLimit: number;
  maxClientBatchSize: number;
  requestTimeoutMs: number;
  pooling: 'mean' | 'cls';
}

/** What the hooks and routes of one server share. */
interface State {
  opts: ServerOptions;
  settings: Settings;
  model: Electra;
  batcher: Batcher;
  metrics: ServeMetrics;
  modelId: string;
  served: string[];
  version: string;
  inFlight: number;
  closing: boolean;
  done: WeakSet<Ctx>;
}

/** Checks the options and fills in the defaults (before any model is loaded). */
function resolveSettings(opts: ServerOptions): Settings {
  const maxConcurrent = checkInt(opts.maxConcurrentRequests, 'maxConcurrentRequests', 512);
  const payloadLimit = checkInt(opts.payloadLimit, 'payloadLimit', 2 * 1024 * 1024);
  const maxClientBatchSize = checkInt(opts.maxClientBatchSize, 'maxClientBatchSize', 32);
  const requestTimeoutMs = checkInt(opts.requestTimeoutMs, 'requestTimeoutMs', 30000, 0);
  const pooling = opts.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new ElectraError('ERR_CONFIG', `createServer: pooling must be mean or cls, got ${String(pooling)}`);
  if (opts.apiKey !== undefined && (typeof opts.apiKey !== 'string' || opts.apiKey === '')) throw new ElectraError('ERR_CONFIG', 'createServer: apiKey must be a non-empty string');
  return { maxConcurrent, payloadLimit, maxClientBatchSize, requestTimeoutMs, pooling };
}

/** The model (loaded when `opts.model` is a directory) and its batcher; a model loaded here is freed if the batcher fails. */
async function openModel(opts: ServerOptions): Promise<{ model: Electra; batcher: Batcher }> {
  const model = typeof opts.model === 'string' ? await loadModel(opts.model, { device: opts.device, precision: opts.precision }) : opts.model;
  try {
    const batcher = new Batcher(model, { maxBatchTokens: opts.maxBatchTokens, maxBatchRequests: opts.maxBatchRequests, maxWaitMs: opts.maxWaitMs });
    return { model, batcher };
  } catch (e) {
    if (typeof opts.model === 'string') model.dispose();
    throw e;
  }
}

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** The Fastify instance: logger, payload limit, closing behaviour, strict body validation. */
function createApp(s: State): FastifyInstance {
  const app = Fastify({
    logger: s.opts.logger === undefined ? { level: 'info' } : s.opts.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: s.settings.payloadLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  app.decorateRequest('electra', null);
  return app;
}

/** Frees a request's slot (once): its timer, its lease, the in-flight count. */
function finish(s: State, ctx: Ctx): void {
  if (s.done.has(ctx)) return;
  s.done.add(ctx);
  if (ctx.timer) clearTimeout(ctx.timer);
  ctx.lease.end();
  s.inFlight--;
  s.metrics.inFlight.set(s.inFlight);
}

function sendError(s: State, reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  const ctx = reply.request.electra;
  if (ctx) ctx.code = code;
  s.metrics.errors.inc({ code });
  return reply.code(status).send({ error: message, code, error_type: errorType(status) });
}

/** The API key check (every route but /health); a reply when the request is refused. */
function authorize(s: State, req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  if (s.opts.apiKey === undefined || req.url === '/health') return undefined;
  const h = req.headers.authorization;
  if (!h || !h.startsWith('Bearer ')) {
    void reply.header('WWW-Authenticate', 'Bearer');
    return sendError(s, reply, 401, 'ERR_AUTH', 'this server needs an API key: Authorization: Bearer <key>');
  }
  if (h.slice(7) !== s.opts.apiKey) return sendError(s, reply, 403, 'ERR_AUTH', 'the API key is not valid');
  return undefined;
}

/** Admission of an inference request: a slot (or 429), a batcher lease, the request timeout. */
function admit(s: State, req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const route = req.routeOptions.url;
  if (req.method !== 'POST' || !route || !INFER[route]) return undefined;
  const { maxConcurrent, pooling, maxClientBatchSize, requestTimeoutMs } = s.settings;
  if (s.inFlight >= maxConcurrent) {
    void reply.header('Retry-After', '1');
    return sendError(s, reply, 429, 'ERR_BUSY', `the server is serving ${maxConcurrent} requests (--max-concurrent-requests); retry later`);
  }
  s.inFlight++;
  s.metrics.inFlight.set(s.inFlight);
  const ctrl = new AbortController();
  const lease = s.batcher.lease({ signal: ctrl.signal });
  const ctx: Ctx = {
    lease,
    ctrl,
    timer: undefined,
    code: undefined,
    route: { model: lease.model, pooling, maxClientBatchSize, modelId: s.modelId, inputs: 0, tokens: () => lease.tokens },
  };
  req.electra = ctx;
  if (requestTimeoutMs > 0) {
    ctx.timer = setTimeout(() => ctrl.abort(new ElectraError('ERR_ABORTED', `the request took longer than ${requestTimeoutMs} ms (request timeout)`)), requestTimeoutMs);
  }
  watchClient(s, req, reply, ctx, route);
  return undefined;
}

/** A client that goes away: its queued rows are dropped. */
function watchClient(s: State, req: FastifyRequest, reply: FastifyReply, ctx: Ctx, route: string): void {
  reply.raw.on('close', () => {
    if (reply.raw.writableFinished) return;
    ctx.ctrl.abort(new ElectraError('ERR_ABORTED', 'the client closed the connection'));
    if (s.done.has(ctx)) return;
    finish(s, ctx);
    // No response goes out: count and log it as nginx does, 499 (client closed request).
    s.metrics.requests.inc({ route, status: '499' });
    s.metrics.errors.inc({ code: 'ERR_ABORTED' });
    req.log.info({ route, status: 499, latency_ms: Number(reply.elapsedTime.toFixed(2)), inputs: ctx.route.inputs, tokens: ctx.lease.tokens, code: 'ERR_ABORTED' }, 'request');
  });
}

/** Metrics and the one log line of a request that got a response. */
function recordResponse(s: State, req: FastifyRequest, reply: FastifyReply): void {
  const ctx = req.electra;
  if (ctx && s.done.has(ctx)) return;
  const route = req.routeOptions.url ?? 'unknown';
  const seconds = reply.elapsedTime / 1000;
  s.metrics.requests.inc({ route, status: String(reply.statusCode) });
  s.metrics.duration.observe({ route }, seconds);
  if (!ctx) return;
  finish(s, ctx);
  s.metrics.queue.observe(ctx.lease.queueSeconds);
  s.metrics.requestTokens.observe({ route }, ctx.lease.tokens);
  req.log.info(
    {
      route,
      status: reply.statusCode,
      latency_ms: Number(reply.elapsedTime.toFixed(2)),
      inputs: ctx.route.inputs,
      tokens: ctx.lease.tokens,
      batch_size: ctx.lease.batchSize,
      queue_ms: Number((ctx.lease.queueSeconds * 1000).toFixed(2)),
      infer_ms: Number((ctx.lease.inferSeconds * 1000).toFixed(2)),
      code: ctx.code,
    },
    'request',
  );
}

/** The request hooks: auth, admission, per-request metrics and logging, freeing slots. */
function addRequestHooks(app: FastifyInstance, s: State): void {
  // Auth and admission run before the body is read, so an overloaded server does not parse it.
  app.addHook('onRequest', async (req, reply) => {
    const denied = authorize(s, req, reply);
    if (denied) return denied;
    return admit(s, req, reply);
  });
  app.addHook('onResponse', async (req, reply) => {
    recordResponse(s, req, reply);
  });
  // A request that never reaches onResponse (client gone before the reply) still frees its slot.
  app.addHook('onRequestAbort', async (req) => {
    if (req.electra) finish(s, req.electra);
  });
}

/** Errors (validation, payload, JSON, ElectraError codes) and unknown routes, as JSON with a code. */
function setErrorHandlers(app: FastifyInstance, s: State): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (err.validation) {
      const v = err.validation[0];
      const where = v?.instancePath ? `body${v.instancePath.replace(/\//g, '.')}` : 'body';
      return sendError(s, reply, 422, 'ERR_INPUT', `${where} ${v?.message ?? 'is not valid'}`);
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(s, reply, 413, 'ERR_INPUT', `the request body is larger than the payload limit of ${s.settings.payloadLimit} bytes`);
    if (typeof err.code === 'string' && err.code.startsWith('FST_ERR_CTP')) {
      return sendError(s, reply, err.statusCode === 415 ? 415 : 400, 'ERR_INPUT', `the request body is not valid JSON: ${err.message}`);
    }
    if (err.statusCode && err.statusCode < 500 && !(err instanceof ElectraError)) return sendError(s, reply, err.statusCode, 'ERR_INPUT', err.message);
    const e = toElectraError(err);
    const status = statusOf(e.code);
    if (status >= 500 && e.code !== 'ERR_ABORTED') req.log.error({ err: e }, 'request failed');
    if (status === 429 || status === 503) void reply.header('Retry-After', '1');
    return sendError(s, reply, status, e.code, e.message);
  });
  app.setNotFoundHandler((req, reply) => {
    const known = Object.keys(INFER).includes(req.url.split('?')[0]!);
    return sendError(s, reply, 404, known ? 'ERR_CHECKPOINT' : 'ERR_NOT_FOUND', known ? `this model (head "${s.model.head}") does not serve ${req.url}; it serves ${s.served.join(', ')}` : `no route ${req.method} ${req.url}`);
  });
}

/** The body of GET /info. */
function infoOf(s: State): Record<string, unknown> {
  const { model, batcher, settings } = s;
  return {
    model_id: s.modelId,
    model_dir: model.source ?? null,
    head: model.head,
    labels: model.head === 'sequence-classification' || model.head === 'token-classification' ? Object.values(model.config.id2label ?? {}) : null,
    max_input_length: model.config.max_position_embeddings,
    hidden_size: model.config.hidden_size,
    pooling: settings.pooling,
    device: model.device,
    precision: model.precision,
    max_batch_tokens: batcher.maxBatchTokens,
    max_batch_requests: batcher.maxBatchRequests,
    max_wait_ms: batcher.maxWaitMs,
    max_concurrent_requests: settings.maxConcurrent,
    max_client_batch_size: settings.maxClientBatchSize,
    payload_limit: settings.payloadLimit,
    request_timeout_ms: settings.requestTimeoutMs,
    auth: s.opts.apiKey !== undefined,
    routes: s.served,
    version: s.version,
  };
}

/** The inference routes of the model's head, then /health, /info and /metrics. */
function registerRoutes(app: FastifyInstance, s: State): void {
  for (const url of s.served) {
    const r = INFER[url]!;
    app.post(url, { schema: { body: r.schema } }, async (req) => {
      const ctx = req.electra!;
      try {
        return await r.handler(ctx.route, req.body as Record<string, unknown>);
      } finally {
        ctx.lease.end();
      }
    });
  }
  // While closing, responses of the requests in flight end their keep-alive connections, so the
  // server can close as soon as the last one is sent.
  app.addHook('onSend', async (_req, reply) => {
    if (s.closing) void reply.header('Connection', 'close');
  });
  app.get('/health', async (_req, reply) => {
    if (s.closing || s.model.disposed) return reply.code(503).send({ status: 'closing' });
    return { status: 'ok' };
  });
  app.get('/info', async () => infoOf(s));
  app.get('/metrics', async (_req, reply) => {
    void reply.header('Content-Type', s.metrics.registry.contentType);
    return s.metrics.registry.metrics();
  });
}

/**
 * Builds the server for one model. `await createServer({ model: dir }).then((s) => s.listen({ port: 8080 }))`,
 * or mount `server.app` routes into an existing service.
 */
export async function createServer(opts: ServerOptions): Promise<ElectraServer> {
  const owned = typeof opts.model === 'string';
  const settings = resolveSettings(opts);
  const { model, batcher } = await openModel(opts);
  const modelId = opts.modelId ?? (model.source ? path.basename(model.source) : 'electra');
  const metrics = new ServeMetrics({ queueDepth: () => batcher.queueDepth, defaults: opts.processMetrics });
  batcher.onBatch = (b) => metrics.batch(b);
  const served = routesFor(model.head);
  const s: State = { opts, settings, model, batcher, metrics, modelId, served, version: packageVersion(), inFlight: 0, closing: false, done: new WeakSet<Ctx>() };
  const app = createApp(s);
  addRequestHooks(app, s);
  setErrorHandlers(app, s);
  registerRoutes(app, s);
  await app.ready();
  return {
    app,
    batcher,
    metrics,
    model,
    async listen(l = {}) {
      return app.listen({ port: l.port ?? 8080, host: l.host ?? '127.0.0.1' });
    },
    async close() {
      s.closing = true;
      await app.close();
      await batcher.idle();
      if (owned) model.dispose();
    },
  };
}

function errorType(status: number): string {
  if (status === 401 || status === 403) return 'Unauthorized';
  if (status === 413 || status === 422 || status === 400) return 'Validation';
  if (status === 429) return 'Overloaded';
  if (status === 404) return 'NotFound';
  if (status === 503) return 'Unavailable';
  return 'Backend';
}
