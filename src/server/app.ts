/**
 * The HTTP reranking service (fastify, pino logs, prom-client metrics), safe to put on a network:
 * API keys, hard limits checked before any work, timeouts on every phase of a connection, a
 * bounded admission queue, per-request deadlines, readiness and drain. Request and response shapes
 * follow the services clients already speak (one file each):
 *  - tei.ts: POST /rerank (Hugging Face text-embeddings-inference); embed.ts: POST /embed.
 *  - cohere.ts: POST /v1/rerank (Cohere v1 and Jina), POST /v2/rerank (Cohere v2).
 *  - search.ts: POST /search, crossrank's two-stage search over a collection.
 *  - here: GET /health (200 ready, 503 loading / draining), GET /info, GET /metrics.
 * Errors (errors.ts) are TEI-shaped ({ error, error_type }) plus Cohere's `message`, a `code` and
 * the request id: 400 malformed JSON, 401 no or wrong key, 413 / 422 a limit (named, with the value
 * and the maximum), 429 queue full, 499 client gone, 503 loading or draining, 504 deadline; a 500
 * carries only a generic message (details go to the log under the same request id).
 */
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { LoggerOptions } from 'pino';
import type { Collection } from '../collection/collection.js';
import { validateBoolean, validateInteger, validateObject } from '../errors.js';
import type { BiEncoder } from '../inference/bi-encoder.js';
import { CrossEncoder } from '../inference/cross-encoder.js';
import type { Scorer } from '../inference/scorer.js';
import { RerankPool } from '../pool/rerank-pool.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { Admission } from './admission.js';
import { ApiKeys, installAuth } from './auth.js';
import { cohereRoutes } from './cohere.js';
import { embedRoutes } from './embed.js';
import { installErrorHandling } from './errors.js';
import { draining, loading } from './http-error.js';
import { describeModel, type ModelFacts } from './info.js';
import { checkShape, resolveLimits, shapeRules, type ServerLimits } from './limits.js';
import { addScorerGauges, makeMetrics } from './metrics.js';
import { searchRoutes } from './search.js';
import { Service, type NamedReranker, type ServerState } from './service.js';
import { teiRoutes } from './tei.js';

export { ApiKeys } from './auth.js';
export { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
export type { ServerState } from './service.js';

type Awaitable<T> = T | Promise<T>;

/** Timeouts of each phase of a connection, in milliseconds. */
export interface ServerTimeouts {
  /** Deadline of a request's work (queue, tokenizing, scoring): past it the scoring stops and the answer is 504. A client may ask for less with the `X-Request-Timeout-Ms` header. Default 30 000. */
  requestMs: number;
  /** Receiving a whole request, headers and body (Node's requestTimeout; 408 past it). Default 30 000. */
  receiveMs: number;
  /** Receiving a request's headers (Node's headersTimeout). Default 10 000. */
  headersMs: number;
  /** An idle keep-alive connection is closed after this. Default 5 000 (a proxy in front should use less). */
  keepAliveMs: number;
  /** A connection with no traffic at all (socket timeout). Default 60 000. */
  connectionMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ServerTimeouts> = { requestMs: 30_000, receiveMs: 30_000, headersMs: 10_000, keepAliveMs: 5_000, connectionMs: 60_000 };

export interface ServerOptions {
  /** The cross-encoder (or pool) behind /rerank, /v1/rerank, /v2/rerank and /search's rerank step. A promise: the server answers 503 until it resolves. */
  reranker?: Awaitable<Scorer | undefined>;
  /**
   * Rerankers by name, for the `model` field of /v1/rerank and /v2/rerank (with two or more, a
   * request must name one; unknown names answer 404 listing them). The first is the default
   * (everywhere no model is named) unless `reranker` is given.
   */
  rerankers?: Awaitable<Record<string, Scorer> | undefined>;
  /** The bi-encoder behind /embed. */
  embedder?: Awaitable<BiEncoder | undefined>;
  /** The collection behind /search. */
  collection?: Awaitable<Collection | undefined>;
  /** Model name reported by /info and /v1/rerank. Default: the hub id, or the model directory's name. */
  modelId?: string;
  /** @deprecated Use `limits.maxDocuments` / `limits.maxEmbedInputs` (this sets both). */
  maxClientBatchSize?: number;
  /** Cut pairs over the model's limit unless a request says `truncate: false`. Default true. */
  autoTruncate?: boolean;
  /** pino options, or false for no request log. Default: info level to stdout. Authorization headers are always redacted. */
  logger?: LoggerOptions | boolean;
  /** Largest request body in bytes. Default 16 MiB. */
  bodyLimit?: number;
  /** Accepted API keys (`Authorization: Bearer <key>`). Without keys the server answers only on loopback addresses unless `insecureNoAuth`. */
  apiKeys?: ApiKeys | readonly string[];
  /** Serve without keys on any address. Default false. */
  insecureNoAuth?: boolean;
  /** GET /metrics without a key. Default false. */
  metricsPublic?: boolean;
  /** Origins allowed by CORS. Default: none (CORS off). */
  cors?: string | readonly string[];
  limits?: Partial<ServerLimits>;
  timeouts?: Partial<ServerTimeouts>;
  /** Most open connections; more are closed at once. Default 1024. */
  maxConnections?: number;
  /** Most requests admitted to model work at once (running or waiting); more get 429. Default 256. */
  maxQueue?: number;
  /** Most requests doing model work at once. Default 4 in-process (overlapping runs keep the cores busy: bert-tiny, 2 cores, 8 clients: 1.5× the requests/s of one at a time), unlimited with a RerankPool (it schedules its own workers). */
  maxConcurrent?: number;
}

/** Control of a created server: readiness and drain. */
export interface ServerControl {
  readonly state: ServerState;
  /** Resolves when the models are loaded (rejects if loading failed). */
  readonly ready: Promise<void>;
  /** Requests doing or waiting for model work. */
  readonly inFlight: number;
  /** Replace the accepted keys (a key file re-read on SIGHUP). */
  readonly apiKeys: ApiKeys;
  /**
   * Stop taking work: /health answers 503 and new requests 503 (Connection: close); requests in
   * flight finish, or are aborted (503) after `timeoutMs`. Resolves with how many finished / were aborted.
   */
  drain(timeoutMs: number): Promise<{ finished: number; aborted: number }>;
}

declare module 'fastify' {
  interface FastifyInstance {
    crossrank: ServerControl;
  }
}

function resolveTimeouts(given: Partial<ServerTimeouts> | undefined): ServerTimeouts {
  const t = { ...DEFAULT_TIMEOUTS, ...(given ?? {}) };
  for (const k of Object.keys(DEFAULT_TIMEOUTS) as (keyof ServerTimeouts)[]) validateInteger(t[k], `options.timeouts.${k}`, 1, 24 * 3_600_000);
  validateInteger(t.headersMs, 'options.timeouts.headersMs', 1, t.receiveMs);
  return t;
}

/** The caller's pino options with the Authorization header always redacted (their own paths kept). */
function withRedaction(o: LoggerOptions): LoggerOptions {
  const ours = ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization'];
  const theirs = Array.isArray(o.redact) ? o.redact : (o.redact?.paths ?? []);
  const censor = Array.isArray(o.redact) ? '[redacted]' : (o.redact?.censor ?? '[redacted]');
  return { ...o, redact: { paths: [...new Set([...ours, ...theirs])], censor } };
}

/** Routes that stay open while loading or draining (health checks, scraping). */
const ALWAYS_OPEN = new Set(['/health', '/metrics']);

/** Build the service (not listening: call `listen`, or `inject` in tests). */
export async function createServer(options: ServerOptions = {}): Promise<FastifyInstance> {
  const legacy = options.maxClientBatchSize;
  if (legacy !== undefined) validateInteger(legacy, 'options.maxClientBatchSize', 1);
  const limits = resolveLimits({ ...(legacy ? { maxDocuments: legacy, maxEmbedInputs: legacy } : {}), ...(options.limits ?? {}) });
  const timeouts = resolveTimeouts(options.timeouts);
  const autoTruncate = options.autoTruncate ?? true;
  validateBoolean(autoTruncate, 'options.autoTruncate');
  const bodyLimit = options.bodyLimit ?? 16 * 1024 * 1024;
  validateInteger(bodyLimit, 'options.bodyLimit', 1);
  const maxConnections = options.maxConnections ?? 1024;
  validateInteger(maxConnections, 'options.maxConnections', 1);
  const maxQueue = options.maxQueue ?? 256;
  validateInteger(maxQueue, 'options.maxQueue', 1);
  if (options.maxConcurrent !== undefined) validateInteger(options.maxConcurrent, 'options.maxConcurrent', 1);
  const keys = options.apiKeys instanceof ApiKeys ? options.apiKeys : new ApiKeys(options.apiKeys ?? [], 'options.apiKeys');
  const origins = options.cors === undefined ? [] : typeof options.cors === 'string' ? [options.cors] : [...options.cors];

  // Admission: the running cap is settled once the reranker is known (a pool schedules its own workers).
  const admission = new Admission(options.maxConcurrent ?? 4, maxQueue);
  const metrics = makeMetrics(admission, () => (svc.state === 'ready' ? 1 : 0));
  const svc = new Service(limits, admission, metrics, autoTruncate, timeouts.requestMs);

  const logger = options.logger === false ? false : withRedaction(options.logger === undefined || options.logger === true ? { level: 'info' } : options.logger);
  const app = Fastify({
    logger,
    bodyLimit,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    connectionTimeout: timeouts.connectionMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    requestTimeout: timeouts.receiveMs,
    // Node checks the headers and request timeouts on this interval (default 30 s).
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headersMs / 2))) },
    return503OnClosing: true,
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false, allowUnionTypes: true } },
  });
  app.server.maxConnections = maxConnections;

  installErrorHandling(app, {
    abortCause: (req) => svc.abortCause(req),
    onError(req, h) {
      metrics.errors.inc({ code: h.code });
      if (h.status === 499) metrics.aborted.inc({ route: req.routeOptions.url ?? 'unknown' });
      if (typeof h.extra.limit === 'string') metrics.limits.inc({ limit: h.extra.limit });
    },
  });
  // JSON bodies: counted (array items, values, depth) on the raw text before JSON.parse builds anything.
  const rules = shapeRules(limits);
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    try {
      checkShape(body as string, rules);
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    parseJson(req, body as string, done);
  });

  if (origins.length) await app.register(cors, { origin: origins, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type', 'x-request-timeout-ms'], maxAge: 600 });
  installAuth(app, { keys, metricsPublic: options.metricsPublic ?? false, insecureNoAuth: options.insecureNoAuth ?? false, corsEnabled: origins.length > 0, onFailure: () => metrics.authFailures.inc() });

  app.addHook('onRequest', async (req, reply) => {
    void reply.header('x-request-id', req.id);
    const path = req.url.split('?')[0]!;
    if (ALWAYS_OPEN.has(path)) return;
    if (svc.state === 'draining') throw draining();
    if (svc.state === 'loading' && path === '/info') throw loading();
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  // Models: given or promised. Until all are there, /health and model routes answer 503.
  let facts: { reranker: ModelFacts | null; embedder: ModelFacts | null } = { reranker: null, embedder: null };
  const ready = (async () => {
    const [given, embedder, collection, named] = await Promise.all([options.reranker, options.embedder, options.collection, options.rerankers]);
    if (named !== undefined) validateObject(named, 'options.rerankers');
    const reranker = given ?? (named ? Object.values(named)[0] : undefined);
    const tokenizerOf = (r: Scorer) => (r instanceof CrossEncoder ? r.tokenizer : r instanceof RerankPool ? Tokenizer.fromFile(r.model.files.tokenizer) : undefined);
    const rerankerTokenizer = reranker ? tokenizerOf(reranker) : undefined;
    facts = {
      reranker: reranker ? await describeModel(reranker, options.modelId) : null,
      embedder: embedder ? await describeModel(embedder, reranker ? undefined : options.modelId) : null,
    };
    if (reranker instanceof RerankPool && options.maxConcurrent === undefined) admission.maxRunning = Number.POSITIVE_INFINITY;
    if (reranker) addScorerGauges(metrics, reranker);
    svc.modelId = facts.reranker?.id ?? facts.embedder?.id ?? options.modelId ?? 'crossrank';
    svc.models = { ...(reranker ? { reranker } : {}), ...(rerankerTokenizer ? { rerankerTokenizer } : {}), ...(embedder ? { embedder } : {}), ...(collection ? { collection } : {}) };
    if (named && reranker) {
      const all = new Map<string, NamedReranker>(given ? [[svc.modelId, { scorer: given, ...(rerankerTokenizer ? { tokenizer: rerankerTokenizer } : {}) }]] : []);
      for (const [name, scorer] of Object.entries(named)) {
        const tokenizer = scorer === reranker ? rerankerTokenizer : tokenizerOf(scorer);
        all.set(name, { scorer, ...(tokenizer ? { tokenizer } : {}) });
      }
      svc.models.rerankers = all;
    }
    if (svc.state === 'loading') svc.state = 'ready';
  })();
  ready.catch((e: unknown) => {
    svc.state = 'failed';
    app.log.error({ err: e }, 'loading the models failed');
  });

  app.get('/health', async (_req, reply) => {
    if (svc.state !== 'ready') return reply.status(503).header('retry-after', '1').send({ status: svc.state });
    return { status: 'ok' };
  });

  app.get('/info', async () => {
    const { reranker, embedder, collection } = svc.models;
    const main = facts.reranker ?? facts.embedder;
    const model = (f: ModelFacts | null) => (f ? { id: f.id, dtype: f.dtype, sha256: f.sha256, max_input_length: f.maxLength } : null);
    return {
      model_id: svc.modelId,
      model_dtype: main?.dtype ?? null,
      model_sha256: main?.sha256 ?? null,
      model_type: reranker ? 'reranker' : embedder ? 'embedding' : 'search',
      max_input_length: main?.maxLength ?? null,
      max_client_batch_size: limits.maxDocuments,
      max_concurrent_requests: maxQueue,
      auto_truncate: autoTruncate,
      activation: reranker?.activation ?? null,
      models: { reranker: model(facts.reranker), embedder: model(facts.embedder) },
      limits: {
        max_documents: limits.maxDocuments,
        max_query_chars: limits.maxQueryChars,
        max_document_chars: limits.maxDocumentChars,
        max_chunks_per_doc: limits.maxChunksPerDoc,
        max_top_n: limits.maxTopN,
        max_candidates: limits.maxCandidates,
        max_embed_inputs: limits.maxEmbedInputs,
        max_json_values: limits.maxJsonValues,
        body_limit: bodyLimit,
        request_timeout_ms: timeouts.requestMs,
      },
      endpoints: { rerank: Boolean(reranker), embed: Boolean(embedder), search: Boolean(collection) },
      collection: collection ? { size: collection.size } : null,
      pool: reranker instanceof RerankPool ? reranker.stats() : null,
    };
  });

  app.get('/metrics', async (_req, reply) => {
    void reply.header('Content-Type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  teiRoutes(app, svc);
  cohereRoutes(app, svc);
  embedRoutes(app, svc);
  searchRoutes(app, svc);

  const control: ServerControl = {
    get state() {
      return svc.state;
    },
    ready,
    get inFlight() {
      return svc.inFlight;
    },
    apiKeys: keys,
    async drain(timeoutMs: number) {
      validateInteger(timeoutMs, 'timeoutMs', 0);
      svc.state = 'draining';
      const started = svc.inFlight;
      const until = Date.now() + timeoutMs;
      while (svc.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      const aborted = svc.inFlight;
      if (aborted) {
        app.log.warn({ aborted, timeoutMs }, 'drain timeout: aborting the requests still in flight');
        svc.abortAll();
        // Aborted work stops between micro-batches; give it a moment to answer 503.
        const grace = Date.now() + 5_000;
        while (svc.inFlight > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 10));
      }
      return { finished: started - aborted, aborted };
    },
  };
  app.decorate('crossrank', control);
  // Models given as values: the server is ready when created. Promised ones: it answers 503 until then.
  const promised = [options.reranker, options.rerankers, options.embedder, options.collection].some((m) => typeof (m as { then?: unknown } | undefined)?.then === 'function');
  if (!promised) await ready;
  return app;
}
