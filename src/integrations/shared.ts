/**
 * What the framework adapters share: models loaded once per process (keyed by id or directory and
 * options), any reranker with crossrank's `rerank(query, docs, { topK, signal })` shape, and a
 * ranking step that validates what such a reranker returns.
 */
import { CrossrankError, invalidType, validateInteger, validateObject, validateString } from '../errors.js';
import { BiEncoder, type BiEncoderOptions } from '../inference/bi-encoder.js';
import { CrossEncoder, type CrossEncoderOptions } from '../inference/cross-encoder.js';
import { Scorer, type ChunkingOptions } from '../inference/scorer.js';
import { RerankPool, type RerankPoolOptions } from '../pool/rerank-pool.js';

/** Options a reranker receives from an adapter; fields other than topK and signal are hints it may ignore. */
export interface RerankCallOptions {
  topK?: number;
  signal?: AbortSignal;
  /** Long documents: score windows and keep the best (crossrank's scorers). */
  chunking?: ChunkingOptions | false;
  /** Request headers (AI SDK), for rerankers that call a service. */
  headers?: Record<string, string | undefined>;
  /** The AI SDK's provider options for this provider, for rerankers that understand them. */
  providerOptions?: Record<string, unknown>;
}

/**
 * Anything that reranks as crossrank's rerankers do: the CrossEncoder, a RerankPool, the LLM
 * reranker, or your own. Results are best first; `index` is the position in `docs`.
 */
export interface RerankerLike {
  rerank(query: string, docs: string[], options?: RerankCallOptions): Promise<readonly { index: number; score: number }[]>;
}

/** Where an adapter gets its reranker: a model id or directory (loaded once, shared), or a reranker. */
export type RerankerSource = string | RerankerLike;

/** Where an adapter gets its embedder: a model id or directory (loaded once, shared), or a BiEncoder. */
export type EmbedderSource = string | BiEncoder;

/** Loading options for a reranker given by id or directory; `pool` loads a RerankPool instead of a CrossEncoder. */
export interface RerankerLoadOptions extends RerankPoolOptions {
  pool?: boolean;
}

const loaded = new Map<string, Promise<CrossEncoder | RerankPool | BiEncoder>>();

/** JSON with sorted keys, so option objects that differ only in key order share a model. */
function stableKey(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

function shared<T extends CrossEncoder | RerankPool | BiEncoder>(kind: string, id: string, options: object, load: () => Promise<T>): Promise<T> {
  const key = `${kind}\u0000${id}\u0000${stableKey(options)}`;
  let p = loaded.get(key) as Promise<T> | undefined;
  if (!p) {
    p = load();
    loaded.set(key, p);
    // A failed load is not remembered: the next call tries again.
    const mine = p;
    p.catch(() => {
      if (loaded.get(key) === mine) loaded.delete(key);
    });
  }
  return p;
}

/**
 * The CrossEncoder (or, with `pool: true`, the RerankPool) for `model` and `options`, loaded on
 * the first call and shared by every later call with the same id or directory and options.
 */
export function sharedReranker(model: string, options: RerankerLoadOptions = {}): Promise<CrossEncoder | RerankPool> {
  validateString(model, 'model');
  validateObject(options as unknown, 'options');
  const { pool, ...rest } = options;
  if (pool !== undefined && typeof pool !== 'boolean') throw invalidType('options.pool', 'of type boolean', pool);
  return pool
    ? shared('pool', model, rest, () => RerankPool.create(model, rest))
    : shared('cross', model, rest, () => CrossEncoder.load(model, rest as CrossEncoderOptions));
}

/** The BiEncoder for `model` and `options`, loaded on the first call and shared after. */
export function sharedEmbedder(model: string, options: BiEncoderOptions = {}): Promise<BiEncoder> {
  validateString(model, 'model');
  validateObject(options as unknown, 'options');
  return shared('bi', model, options, () => BiEncoder.load(model, options));
}

/**
 * Dispose every model loaded through the adapters (pools close after their admitted work). Later
 * calls load afresh. Every model is tried; the first failure (ERR_BUSY while a run is in flight) is thrown after.
 */
export async function closeSharedModels(): Promise<void> {
  const all = [...loaded.values()];
  loaded.clear();
  const models = await Promise.allSettled(all);
  const closed = await Promise.allSettled(
    models.map(async (m) => {
      if (m.status !== 'fulfilled') return;
      if (m.value instanceof RerankPool) await m.value.close();
      else m.value.dispose();
    }),
  );
  const failed = closed.find((c) => c.status === 'rejected');
  if (failed) throw failed.reason;
}

function isReranker(value: unknown): value is RerankerLike {
  return value !== null && typeof value === 'object' && typeof (value as { rerank?: unknown }).rerank === 'function';
}

/** A lazy getter for the reranker a source names; `name` is the option's name for errors. */
export function rerankerFrom(source: unknown, options: RerankerLoadOptions | undefined, name: string): () => Promise<RerankerLike> {
  if (typeof source === 'string') return () => sharedReranker(source, options);
  if (isReranker(source)) return () => Promise.resolve(source);
  throw invalidType(name, 'a model id or directory, or an object with a rerank(query, docs, { topK, signal }) method', source);
}

/** A lazy getter for the embedder a source names. */
export function embedderFrom(source: unknown, options: BiEncoderOptions | undefined, name: string): () => Promise<BiEncoder> {
  if (typeof source === 'string') return () => sharedEmbedder(source, options);
  if (source instanceof BiEncoder) return () => Promise.resolve(source);
  throw invalidType(name, 'a model id or directory, or a BiEncoder', source);
}

/** A readable model id for a reranker source. */
export function rerankerId(source: RerankerSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof CrossEncoder) return source.modelPath;
  if (source instanceof RerankPool) return source.model.files.onnx;
  const id = (source as { modelId?: unknown }).modelId;
  return typeof id === 'string' ? id : source.constructor?.name ?? 'reranker';
}

export interface Ranking {
  /** Best first, at most topN. */
  ranking: { index: number; score: number }[];
  /** With crossrank's own scorers: how many of the documents were cut to fit the model. */
  truncated?: number;
}

/** The signal that fires when either fires (either may be absent). */
export function eitherSignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a || !b || a === b) return a ?? b;
  return AbortSignal.any([a, b]);
}

/**
 * Rank `docs` for `query` with `reranker`, best first, at most `topN`. crossrank's scorers rank every
 * document (they score them all anyway) so the truncation count covers all of them; other rerankers
 * get `topK` and every hint, and their answer is checked: indices in range and distinct, scores numbers (not NaN).
 */
export async function rankWith(reranker: RerankerLike, query: string, docs: string[], options: RerankCallOptions = {}): Promise<Ranking> {
  validateString(query, 'query');
  const { topK, ...rest } = options;
  if (topK !== undefined) validateInteger(topK, 'topN', 1);
  const n = topK === undefined ? docs.length : Math.min(topK, docs.length);
  if (docs.length === 0) return { ranking: [] };
  if (reranker instanceof Scorer) {
    const results = await reranker.rerank(query, docs, { signal: rest.signal, ...(rest.chunking !== undefined ? { chunking: rest.chunking } : {}) });
    return {
      ranking: results.slice(0, n).map((r) => ({ index: r.index, score: r.score })),
      truncated: results.reduce((k, r) => k + (r.truncated ? 1 : 0), 0),
    };
  }
  const answer = (await reranker.rerank(query, docs, { ...rest, topK: n })) as unknown;
  if (!Array.isArray(answer)) throw new CrossrankError('ERR_RERANKER_OUTPUT', `the reranker returned ${typeof answer}, expected an array of { index, score }`);
  const seen = new Set<number>();
  return {
    ranking: answer.slice(0, n).map((r: unknown, i) => {
      const { index, score } = (r ?? {}) as { index?: unknown; score?: unknown };
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= docs.length || seen.has(index) || typeof score !== 'number' || Number.isNaN(score)) {
        throw new CrossrankError(
          'ERR_RERANKER_OUTPUT',
          `the reranker's result ${i} is ${JSON.stringify(r)}; expected { index: a distinct integer in [0, ${docs.length}), score: a number }`,
        );
      }
      seen.add(index);
      return { index, score };
    }),
  };
}
