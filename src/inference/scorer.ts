/**
 * What every reranker front end shares (the in-process CrossEncoder and the worker pool): input
 * validation, the score cache with in-flight de-duplication, score normalisation, per-pair failures
 * and the ranking presentation. Subclasses only say how raw logits are computed.
 */
import {
  BatchError,
  CrossrankError,
  invalidType,
  validateBoolean,
  validateInteger,
  validateObject,
  validateString,
  type ItemFailure,
} from '../errors.js';
import type { NativeScoreResult } from '../native.js';
import { ScoreCache, type CachedPair, type ScoreCacheStats } from './score-cache.js';

export type Activation = 'sigmoid' | 'softmax' | 'none';
export interface ChunkingOptions {
  /** Tokens shared by consecutive windows of a long document. Default 64. */
  stride?: number;
  /** Score at most this many windows per document (0: all). Default 0. */
  maxChunks?: number;
}

export interface ScoreOptions {
  signal?: AbortSignal;
  /** Overrides the model's chunking option for this call. */
  chunking?: ChunkingOptions | false;
}

export interface RerankOptions extends ScoreOptions {
  /** How many results to return (best first). Default: all. */
  topK?: number;
  /** Include each input document in its result. Default false. */
  returnDocuments?: boolean;
}

/** A document to rerank: a string, or an object with `text` (other fields pass through). */
export type RerankDocument = string | { text: string; id?: string | number; [key: string]: unknown };

export interface RerankResult<D extends RerankDocument = RerankDocument> {
  /** Position of the document in the input. */
  index: number;
  /** The normalised score (see `CrossEncoder.activation`). */
  score: number;
  /** The raw model output for the ranking label. */
  logit: number;
  /** The document's `id`, when it had one. */
  id?: string | number;
  document?: D;
  /** True when the pair did not fit `maxLength` and was cut (without chunking). */
  truncated?: boolean;
  /** With chunking: which window scored best, how many there were, and its UTF-16 span in the text. */
  chunk?: { index: number; count: number; start: number; end: number };
}

export interface ScoreDetails {
  /** Normalised score of the ranking label per pair (NaN for failed pairs). */
  scores: Float32Array;
  /** Raw logits, pairs × labels. */
  logits: Float32Array;
  labels: number;
  activation: Activation;
  /** 1 where the pair was cut to fit `maxLength`. */
  truncated: Uint8Array;
  truncatedCount: number;
  bestChunk: Uint32Array;
  chunks: Uint32Array;
  spanStart: Uint32Array;
  spanEnd: Uint32Array;
  /** Per-pair failures (the other pairs are scored). */
  failures: ItemFailure[];
  /** Pairs answered from the cache (including ones computed by a concurrent request). */
  cached: number;
}

export function resolveChunking(value: unknown, name: string): Required<ChunkingOptions> | false {
  if (value === undefined || value === false) return false;
  validateObject(value, name);
  const c = value as ChunkingOptions;
  const stride = c.stride ?? 64;
  const maxChunks = c.maxChunks ?? 0;
  validateInteger(stride, `${name}.stride`, 0, 1 << 20);
  validateInteger(maxChunks, `${name}.maxChunks`, 0, 1 << 20);
  return { stride, maxChunks };
}

export function abortError(signal: AbortSignal): CrossrankError {
  const e = new CrossrankError('ABORT_ERR', 'The operation was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

export function validateDocs(docs: unknown, name = 'docs'): string[] {
  if (!Array.isArray(docs)) throw invalidType(name, 'an array of strings or { text: string } objects', docs);
  const texts = new Array<string>(docs.length);
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i] as unknown;
    if (typeof d === 'string') texts[i] = d;
    else if (d !== null && typeof d === 'object' && typeof (d as { text?: unknown }).text === 'string') texts[i] = (d as { text: string }).text;
    else throw invalidType(`${name}[${i}]`, 'a string or an object with a string "text" field', d);
  }
  return texts;
}

/** Raw model output for a list of pairs, as the native scorer returns it. */
export type RawScores = Omit<NativeScoreResult, 'stats'>;

/** Pairs to score: document i goes with query `queries[pairQuery?.[i] ?? 0]`. */
export interface RawRequest {
  queries: string[];
  docs: string[];
  pairQuery: Uint32Array | null;
  chunking: Required<ChunkingOptions> | false;
}

/** Everything a Scorer needs to know about its model to present scores. */
export interface ScorerSetup {
  activation: Activation;
  label: number;
  numLabels: number;
  chunking: Required<ChunkingOptions> | false;
  cache: ScoreCache | null;
  /** Identifies the model file and every option that changes scores (cache scope). */
  scope: string;
  /** Tokens per pair, special tokens included. */
  maxLength: number;
}

export abstract class Scorer {
  readonly #cache: ScoreCache | null;
  readonly #scope: string;
  readonly #chunking: Required<ChunkingOptions> | false;
  readonly #numLabels: number;
  /** How scores are normalised: 'sigmoid', 'softmax' or 'none' (raw logits). */
  readonly activation: Activation;
  /** The label whose score ranks documents. */
  readonly label: number;
  /** Tokens per (query, document) pair, special tokens included. */
  readonly maxLength: number;

  protected constructor(setup: ScorerSetup) {
    this.#cache = setup.cache;
    this.#scope = setup.scope;
    this.#chunking = setup.chunking;
    this.#numLabels = setup.numLabels;
    this.activation = setup.activation;
    this.label = setup.label;
    this.maxLength = setup.maxLength;
  }

  /** Compute raw logits for pairs (query `queries[pairQuery[i] ?? 0]`, `docs[i]`). */
  protected abstract computeRaw(req: RawRequest, signal: AbortSignal | undefined): Promise<RawScores>;

  /** Score-cache counters, or null when the cache is off. */
  cacheStats(): ScoreCacheStats | null {
    return this.#cache?.stats() ?? null;
  }

  clearCache(): void {
    this.#cache?.clear();
  }

  /** Normalised scores of `docs` against `query`, in input order. */
  async score(query: string, docs: readonly RerankDocument[], options: ScoreOptions = {}): Promise<Float32Array> {
    const d = await this.scoreDetailed(query, docs, options);
    if (d.failures.length) throw new BatchError(d.failures, Array.from(d.scores, (s, i) => (d.failures.some((f) => f.index === i) ? null : s)));
    return d.scores;
  }

  /** Normalised scores of (query, document) pairs with different queries, in input order. */
  async scorePairs(pairs: readonly (readonly [string, string])[], options: ScoreOptions = {}): Promise<Float32Array> {
    if (!Array.isArray(pairs)) throw invalidType('pairs', 'an array of [query, document] string pairs', pairs);
    const queries: string[] = [];
    const qIndex = new Map<string, number>();
    const docs = new Array<string>(pairs.length);
    const pq = new Uint32Array(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i] as unknown;
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') {
        throw invalidType(`pairs[${i}]`, 'a [query, document] pair of strings', p);
      }
      let q = qIndex.get(p[0]);
      if (q === undefined) {
        q = queries.length;
        queries.push(p[0]);
        qIndex.set(p[0], q);
      }
      pq[i] = q;
      docs[i] = p[1];
    }
    const d = await this.#run(queries, docs, pq, options);
    if (d.failures.length) throw new BatchError(d.failures, Array.from(d.scores, (s, i) => (d.failures.some((f) => f.index === i) ? null : s)));
    return d.scores;
  }

  /** Scores with everything the run knows: logits, truncation, chunks, per-pair failures. */
  async scoreDetailed(query: string, docs: readonly RerankDocument[], options: ScoreOptions = {}): Promise<ScoreDetails> {
    validateString(query, 'query');
    const texts = validateDocs(docs);
    return this.#run([query], texts, null, options);
  }

  /**
   * Rerank `docs` for `query`: results sorted best first (ties keep input order), at most `topK`.
   * Pairs that fail are reported in a BatchError whose `results` hold the ranking of the others.
   */
  async rerank<D extends RerankDocument>(query: string, docs: readonly D[], options: RerankOptions = {}): Promise<RerankResult<D>[]> {
    validateString(query, 'query');
    validateObject(options as unknown, 'options');
    const texts = validateDocs(docs);
    let topK = texts.length;
    if (options.topK !== undefined) {
      validateInteger(options.topK, 'options.topK', 1);
      topK = Math.min(options.topK, texts.length);
    }
    const returnDocuments = options.returnDocuments ?? false;
    validateBoolean(returnDocuments, 'options.returnDocuments');
    const d = await this.#run([query], texts, null, options);
    const failed = new Set(d.failures.map((f) => f.index));
    const order: number[] = [];
    for (let i = 0; i < texts.length; i++) if (!failed.has(i)) order.push(i);
    order.sort((a, b) => d.scores[b]! - d.scores[a]! || a - b);
    const chunked = (options.chunking ?? this.#chunking) !== false;
    const results = order.slice(0, topK).map((i) => {
      const r: RerankResult<D> = { index: i, score: d.scores[i]!, logit: d.logits[i * d.labels + this.label]! };
      const doc = docs[i]!;
      if (typeof doc === 'object' && doc.id !== undefined) r.id = doc.id;
      if (returnDocuments) r.document = doc;
      if (d.truncated[i]) r.truncated = true;
      if (chunked) r.chunk = { index: d.bestChunk[i]!, count: d.chunks[i]!, start: d.spanStart[i]!, end: d.spanEnd[i]! };
      return r;
    });
    if (d.failures.length) throw new BatchError<RerankResult<D>>(d.failures, results);
    return results;
  }

  async #run(queries: string[], docs: string[], pq: Uint32Array | null, options: ScoreOptions): Promise<ScoreDetails> {
    validateObject(options as unknown, 'options');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidType('options.signal', 'an AbortSignal', signal);
    if (signal?.aborted) throw abortError(signal); // even when every pair would come from the cache
    if (queries.some((q) => q.trim() === '')) throw new CrossrankError('ERR_EMPTY_INPUT', queries.length === 1 ? 'The "query" argument must not be empty or blank' : 'a query in "pairs" is empty or blank');
    const chunking = options.chunking === undefined ? this.#chunking : resolveChunking(options.chunking, 'options.chunking');
    const n = docs.length;
    const labels = this.#numLabels;
    const pairs: (CachedPair | null)[] = new Array(n).fill(null);
    const failures: ItemFailure[] = [];
    let cached = 0;

    const compute = async (idx: number[], keys: string[] | null) => {
      if (!idx.length) return;
      const subPq = pq ? Uint32Array.from(idx, (i) => pq[i]!) : null;
      let r: RawScores;
      try {
        if (signal?.aborted) throw abortError(signal);
        r = await this.computeRaw({ queries, docs: idx.map((i) => docs[i]!), pairQuery: subPq, chunking }, signal);
      } catch (e) {
        if (keys) for (const k of keys) this.#cache!.settle(k, undefined, e);
        throw e;
      }
      const w = r.labels;
      idx.forEach((i, j) => {
        const err = r.errors[j];
        if (err) {
          failures.push({ index: i, code: err.code, message: err.message });
          if (keys) this.#cache!.settle(keys[j]!, undefined, new CrossrankError(err.code, err.message));
          return;
        }
        const p: CachedPair = {
          logits: r.logits.slice(j * w, (j + 1) * w),
          chunk: r.bestChunk[j]!,
          chunks: r.chunks[j]!,
          spanStart: r.spanStart[j]!,
          spanEnd: r.spanEnd[j]!,
          truncated: r.truncated[j] === 1,
        };
        pairs[i] = p;
        if (keys) this.#cache!.settle(keys[j]!, p);
      });
    };

    if (!this.#cache || n === 0) {
      await compute(Array.from({ length: n }, (_, i) => i), null);
    } else {
      const cache = this.#cache;
      const scope = `${this.#scope}|${chunking ? `${chunking.stride}/${chunking.maxChunks}` : '-'}`;
      const miss: number[] = [];
      const missKeys: string[] = [];
      const waits: [number, Promise<CachedPair>][] = [];
      for (let i = 0; i < n; i++) {
        const key = ScoreCache.key(scope, queries[pq ? pq[i]! : 0]!, docs[i]!);
        const hit = cache.get(key);
        if (hit) {
          pairs[i] = hit;
          cache.hits++;
          cached++;
          continue;
        }
        const pending = cache.pending(key);
        if (pending) {
          waits.push([i, pending]);
          continue;
        }
        cache.misses++;
        cache.claim(key);
        miss.push(i);
        missKeys.push(key);
      }
      const own = compute(miss, missKeys);
      // Pairs another request (or a duplicate in this one) is computing: wait for them. If that run
      // was aborted or failed as a whole, compute them here instead.
      const retry: number[] = [];
      const waited = Promise.all(
        waits.map(async ([i, p]) => {
          try {
            pairs[i] = await p;
            cache.inflightHits++;
            cached++;
          } catch (e) {
            const code = (e as { code?: string }).code;
            if (code && code !== 'ABORT_ERR' && code !== 'ERR_ABORTED' && code !== 'ERR_INFERENCE') {
              failures.push({ index: i, code, message: (e as Error).message });
            } else {
              retry.push(i);
            }
          }
        }),
      );
      await Promise.all([own, waited]);
      if (retry.length) await compute(retry.sort((a, b) => a - b), null);
    }

    failures.sort((a, b) => a.index - b.index);
    const width = pairs.find((p) => p)?.logits.length ?? labels;
    const logits = new Float32Array(n * width).fill(Number.NaN);
    const scores = new Float32Array(n).fill(Number.NaN);
    const truncated = new Uint8Array(n);
    const bestChunk = new Uint32Array(n);
    const chunks = new Uint32Array(n);
    const spanStart = new Uint32Array(n);
    const spanEnd = new Uint32Array(n);
    let truncatedCount = 0;
    for (let i = 0; i < n; i++) {
      const p = pairs[i];
      if (!p) continue;
      logits.set(p.logits, i * width);
      scores[i] = this.#normalise(p.logits);
      if (p.truncated) {
        truncated[i] = 1;
        truncatedCount++;
      }
      bestChunk[i] = p.chunk;
      chunks[i] = p.chunks;
      spanStart[i] = p.spanStart;
      spanEnd[i] = p.spanEnd;
    }
    return { scores, logits, labels: width, activation: this.activation, truncated, truncatedCount, bestChunk, chunks, spanStart, spanEnd, failures, cached };
  }

  #normalise(row: Float32Array): number {
    const x = row[this.label]!;
    if (this.activation === 'none') return x;
    if (this.activation === 'sigmoid') return 1 / (1 + Math.exp(-x));
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    return Math.exp(x - max) / sum;
  }
}
