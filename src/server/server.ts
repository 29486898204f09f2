/**
 * The HTTP reranking service (fastify, pino logs, prom-client metrics). Request and response shapes
 * follow the services clients already speak:
 *  - POST /rerank — Hugging Face text-embeddings-inference (TEI): { query, texts, raw_scores,
 *    return_text, truncate } → [{ index, score, text? }], best first.
 *  - POST /v1/rerank — Cohere / Jina: { query, documents, top_n, return_documents } →
 *    { results: [{ index, relevance_score, document? }] }.
 *  - POST /embed — TEI: { inputs, normalize } → vectors (with an embedder).
 *  - POST /search — crossrank's two-stage search over a collection, with each hit's movement.
 *  - GET /health, GET /info, GET /metrics (Prometheus text format).
 * Errors are TEI-shaped ({ error, error_type }) plus crossrank's `code`: 422 for invalid input, 413
 * for too many inputs or (with truncate: false) an input over the model's limit, 429 when the pool's
 * queue is full, 499 when the client went away (the scoring stops between micro-batches), 500 with
 * every partial result and per-item failure otherwise.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { LoggerOptions } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Collection } from '../collection/collection.js';
import { BatchError, CrossrankError } from '../errors.js';
import type { BiEncoder } from '../inference/bi-encoder.js';
import type { RerankResult, Scorer } from '../inference/scorer.js';
import { RerankPool } from '../pool/rerank-pool.js';

export interface ServerOptions {
  /** The cross-encoder (or pool) behind /rerank, /v1/rerank and /search's rerank step. */
  reranker?: Scorer;
  /** The bi-encoder behind /embed. */
  embedder?: BiEncoder;
  /** The collection behind /search. */
  collection?: Collection;
  /** Model name reported by /info and /v1/rerank. Default 'crossrank'. */
  modelId?: string;
  /** Most texts (documents, inputs) per request; more → 413. Default 1000. */
  maxClientBatchSize?: number;
  /** Cut pairs over the model's limit unless a request says `truncate: false`. Default true. */
  autoTruncate?: boolean;
  /** pino options, or false for no request log. Default: info level to stdout. */
  logger?: LoggerOptions | boolean;
  /** Largest request body in bytes. Default 16 MiB. */
  bodyLimit?: number;
}

/** An error that becomes an HTTP status with a TEI-shaped body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const validation = (code: string, message: string, status = 422) => new HttpError(status, 'Validation', code, message);

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const posInt = { type: 'integer', minimum: 1 } as const;
const SCHEMAS = {
  rerank: {
    type: 'object',
    required: ['query', 'texts'],
    additionalProperties: false,
    properties: {
      query: str,
      texts: { type: 'array', items: str },
      raw_scores: bool,
      return_text: bool,
      truncate: { type: ['boolean', 'null'] },
      truncation_direction: { type: 'string', enum: ['Right', 'Left', 'right', 'left'] },
    },
  },
  v1rerank: {
    type: 'object',
    required: ['query', 'documents'],
    additionalProperties: false,
    properties: {
      model: str,
      query: str,
      documents: { type: 'array', items: { anyOf: [str, { type: 'object' }] } },
      top_n: posInt,
      return_documents: bool,
      max_chunks_per_doc: posInt,
      rank_fields: { type: 'array', items: str, minItems: 1 },
    },
  },
  embed: {
    type: 'object',
    required: ['inputs'],
    additionalProperties: false,
    properties: { inputs: { anyOf: [str, { type: 'array', items: str }] }, normalize: bool, truncate: { type: ['boolean', 'null'] } },
  },
  search: {
    type: 'object',
    required: ['query'],
    additionalProperties: false,
    properties: {
      query: str,
      first: { type: 'string', enum: ['dense', 'bm25', 'hybrid'] },
      candidates: posInt,
      top_k: posInt,
      rerank: bool,
      latency_budget_ms: { type: 'number', exclusiveMinimum: 0 },
    },
  },
} as const;

interface Metrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route'>;
  pairs: Counter;
  documents: Histogram;
  aborted: Counter<'route'>;
}

function makeMetrics(reranker: Scorer | undefined): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'crossrank_' });
  const m: Metrics = {
    registry,
    requests: new Counter({ name: 'crossrank_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] }),
    duration: new Histogram({
      name: 'crossrank_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    pairs: new Counter({ name: 'crossrank_pairs_scored_total', help: '(query, document) pairs scored by the reranker', registers: [registry] }),
    documents: new Histogram({
      name: 'crossrank_rerank_documents',
      help: 'Documents per rerank request',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    aborted: new Counter({ name: 'crossrank_requests_aborted_total', help: 'Requests whose client went away before the answer', labelNames: ['route'], registers: [registry] }),
  };
  if (reranker) {
    new Gauge({
      name: 'crossrank_score_cache_entries',
      help: 'Pairs held by the score cache',
      registers: [registry],
      collect() {
        this.set(reranker.cacheStats()?.size ?? 0);
      },
    });
    new Gauge({
      name: 'crossrank_score_cache_hits',
      help: 'Pairs answered by the score cache since start (including in-flight sharing)',
      registers: [registry],
      collect() {
        const s = reranker.cacheStats();
        this.set(s ? s.hits + s.inflightHits : 0);
      },
    });
  }
  if (reranker instanceof RerankPool) {
    new Gauge({
      name: 'crossrank_pool_queued_tasks',
      help: 'Rerank tasks waiting for a pool worker',
      registers: [registry],
      collect() {
        this.set(reranker.stats().queuedTasks);
      },
    });
    new Gauge({
      name: 'crossrank_pool_requests',
      help: 'Requests admitted by the pool and not finished',
      registers: [registry],
      collect() {
        this.set(reranker.stats().requests);
      },
    });
  }
  return m;
}

/** An AbortSignal that fires when the client disconnects before the reply is sent. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'));
  });
  return controller.signal;
}

function need<T>(value: T | undefined, what: string, route: string): T {
  if (value === undefined) throw new HttpError(404, 'Unavailable', 'ERR_NOT_CONFIGURED', `${route} needs a ${what}; this server was started without one`);
  return value;
}

/** Build the service (not listening: call `listen`, or `inject` in tests). */
export async function createServer(options: ServerOptions = {}): Promise<FastifyInstance> {
  const { reranker, embedder, collection } = options;
  const modelId = options.modelId ?? 'crossrank';
  const maxBatch = options.maxClientBatchSize ?? 1000;
  const autoTruncate = options.autoTruncate ?? true;
  const metrics = makeMetrics(reranker);
  const app = Fastify({
    logger: options.logger === undefined ? { level: 'info' } : options.logger,
    bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024,
    genReqId: () => randomUUID(),
    ajv: { customOptions: { allErrors: false, coerceTypes: false, removeAdditional: false } },
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.duration.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const route = req.routeOptions.url ?? 'unknown';
    const e = err as Error & { code?: string; validation?: unknown; statusCode?: number };
    let h: HttpError;
    if (e instanceof HttpError) h = e;
    else if (e.validation) h = validation('ERR_VALIDATION', `Input validation error: ${e.message}`);
    else if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') h = validation('ERR_BODY_TOO_LARGE', e.message, 413);
    else if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) h = validation(e.code ?? 'ERR_BAD_REQUEST', e.message, e.statusCode);
    else if (e.code === 'ERR_QUEUE_FULL') h = new HttpError(429, 'Overloaded', e.code, e.message);
    else if (e.name === 'AbortError') {
      metrics.aborted.inc({ route });
      h = new HttpError(499, 'Cancelled', 'ABORT_ERR', 'the client closed the request');
    } else if (e.code === 'ERR_INVALID_ARG_TYPE' || e.code === 'ERR_OUT_OF_RANGE' || e.code === 'ERR_INVALID_ARG_VALUE') {
      h = validation(e.code, e.message);
    } else if (e instanceof BatchError) {
      h = new HttpError(500, 'Backend', e.code, e.message, { failures: e.failures, results: e.results });
    } else {
      req.log.error({ err: e }, 'request failed');
      h = new HttpError(500, 'Backend', e.code ?? 'ERR_INTERNAL', e.message);
    }
    if (h.status === 429) void reply.header('Retry-After', '1');
    void reply.status(h.status).send({ error: h.message, error_type: h.errorType, code: h.code, ...h.extra });
  });

  /** Rerank with the configured scorer, enforcing the batch limit and, when asked, no truncation. */
  const rerank = async (
    query: string,
    texts: string[],
    truncate: boolean | null | undefined,
    signal: AbortSignal,
    route: string,
    maxChunks?: number,
  ): Promise<RerankResult<string>[]> => {
    const scorer = need(reranker, 'reranker', route);
    if (texts.length === 0) throw validation('ERR_EMPTY_INPUT', '`texts` / `documents` cannot be empty');
    if (texts.length > maxBatch) {
      throw validation('ERR_TOO_MANY_INPUTS', `batch size ${texts.length} > maximum allowed batch size ${maxBatch}`, 413);
    }
    const results = await scorer.rerank(query, texts, { signal, ...(maxChunks ? { chunking: { maxChunks } } : {}) });
    metrics.pairs.inc(texts.length);
    metrics.documents.observe(texts.length);
    if (!(truncate ?? autoTruncate)) {
      const cut = results.filter((r) => r.truncated).map((r) => r.index).sort((a, b) => a - b);
      if (cut.length) {
        throw new HttpError(413, 'Validation', 'ERR_INPUT_TOO_LONG', `inputs ${cut.join(', ')} exceed the model's limit of ${scorer.maxLength} tokens per pair and truncate is false`, { indices: cut });
      }
    }
    return results;
  };

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/info', async () => ({
    model_id: modelId,
    model_type: reranker ? 'reranker' : embedder ? 'embedding' : 'search',
    max_input_length: reranker?.maxLength ?? embedder?.maxLength ?? null,
    max_client_batch_size: maxBatch,
    auto_truncate: autoTruncate,
    activation: reranker?.activation ?? null,
    endpoints: {
      rerank: Boolean(reranker),
      embed: Boolean(embedder),
      search: Boolean(collection),
    },
    collection: collection ? { size: collection.size } : null,
    pool: reranker instanceof RerankPool ? reranker.stats() : null,
  }));

  app.get('/metrics', async (_req, reply) => {
    void reply.header('Content-Type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/rerank', { schema: { body: SCHEMAS.rerank } }, async (req, reply) => {
    const body = req.body as { query: string; texts: string[]; raw_scores?: boolean; return_text?: boolean; truncate?: boolean | null; truncation_direction?: string };
    if (body.truncation_direction && body.truncation_direction.toLowerCase() === 'left') {
      throw validation('ERR_UNSUPPORTED', 'truncation_direction "Left" is not supported: pairs are cut from the right (longest_first)');
    }
    const results = await rerank(body.query, body.texts, body.truncate, clientGone(reply), '/rerank');
    return results.map((r) => ({ index: r.index, score: body.raw_scores ? r.logit : r.score, ...(body.return_text ? { text: body.texts[r.index] } : {}) }));
  });

  app.post('/v1/rerank', { schema: { body: SCHEMAS.v1rerank } }, async (req, reply) => {
    const body = req.body as {
      model?: string;
      query: string;
      documents: (string | Record<string, unknown>)[];
      top_n?: number;
      return_documents?: boolean;
      max_chunks_per_doc?: number;
      rank_fields?: string[];
    };
    // Object documents: the `rank_fields` (default ['text']) that are present, one per line.
    const fields = body.rank_fields ?? ['text'];
    const texts = body.documents.map((d, i) => {
      if (typeof d === 'string') return d;
      const parts = fields.filter((f) => d[f] !== undefined).map((f) => d[f]);
      if (parts.length === 0 || parts.some((p) => typeof p !== 'string')) {
        throw validation('ERR_VALIDATION', `documents[${i}] needs string field(s) ${fields.map((f) => `"${f}"`).join(', ')}`);
      }
      return parts.join('\n');
    });
    // Long documents: with max_chunks_per_doc, overlapping windows, the best one scoring (Cohere's meaning).
    const results = await rerank(body.query, texts, null, clientGone(reply), '/v1/rerank', body.max_chunks_per_doc);
    return {
      id: req.id,
      model: body.model ?? modelId,
      results: results.slice(0, body.top_n ?? results.length).map((r) => ({
        index: r.index,
        relevance_score: r.score,
        ...(body.return_documents ? { document: { text: texts[r.index] } } : {}),
      })),
      usage: { documents: texts.length },
    };
  });

  app.post('/embed', { schema: { body: SCHEMAS.embed } }, async (req, reply) => {
    const bi = need(embedder, 'embedder', '/embed');
    const body = req.body as { inputs: string | string[]; normalize?: boolean };
    const inputs = typeof body.inputs === 'string' ? [body.inputs] : body.inputs;
    if (inputs.length === 0) throw validation('ERR_EMPTY_INPUT', '`inputs` cannot be empty');
    if (inputs.length > maxBatch) throw validation('ERR_TOO_MANY_INPUTS', `batch size ${inputs.length} > maximum allowed batch size ${maxBatch}`, 413);
    const normalize = body.normalize ?? true;
    if (!normalize && bi.normalize) {
      throw validation('ERR_UNSUPPORTED', 'this embedder was loaded with normalize: true; it cannot return unnormalized vectors');
    }
    const flat = await bi.embed(inputs, { signal: clientGone(reply) });
    const dim = flat.length / inputs.length;
    return inputs.map((_, i) => {
      const v = flat.subarray(i * dim, (i + 1) * dim);
      if (normalize && !bi.normalize) {
        const norm = Math.hypot(...v) || 1;
        return Array.from(v, (x) => x / norm);
      }
      return Array.from(v);
    });
  });

  app.post('/search', { schema: { body: SCHEMAS.search } }, async (req, reply) => {
    const col = need(collection, 'collection', '/search');
    const body = req.body as { query: string; first?: 'dense' | 'bm25' | 'hybrid'; candidates?: number; top_k?: number; rerank?: boolean; latency_budget_ms?: number };
    if (body.rerank && !reranker) throw new HttpError(404, 'Unavailable', 'ERR_NOT_CONFIGURED', '`rerank: true` needs a reranker; this server was started without one');
    const useRerank = body.rerank ?? Boolean(reranker);
    const res = await col.search(body.query, {
      ...(body.first ? { first: body.first } : {}),
      ...(body.candidates ? { candidates: body.candidates } : {}),
      ...(body.top_k ? { topK: body.top_k } : {}),
      ...(useRerank && reranker ? { rerank: reranker } : {}),
      ...(useRerank && body.latency_budget_ms ? { latencyBudgetMs: body.latency_budget_ms } : {}),
      signal: clientGone(reply),
    });
    if (useRerank && reranker) metrics.pairs.inc(res.plan ? res.plan.rerank : res.candidates);
    return {
      first: res.first,
      candidates: res.candidates,
      hits: res.hits.map((h) => ({
        id: h.id,
        text: h.text,
        ...(h.metadata ? { metadata: h.metadata } : {}),
        rank: h.rank,
        score: h.score,
        first_stage_rank: h.firstStageRank,
        first_stage_score: h.firstStageScore,
        moved: h.firstStageRank - h.rank,
        reranked: h.reranked,
      })),
      timings: { first_stage_ms: res.timings.firstStageMs, rerank_ms: res.timings.rerankMs, total_ms: res.timings.totalMs },
      ...(res.plan ? { plan: res.plan } : {}),
    };
  });

  return app;
}
