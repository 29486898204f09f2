/**
 * The cross-encoder reranker: reads each (query, document) pair together and scores it. Tokenizing,
 * length-sorted micro-batching and ONNX Runtime inference run natively off the event loop; the
 * session is shared process-wide, so every handle (and every worker thread) on the same model file
 * uses one copy of the weights.
 */
import { availableParallelism } from 'node:os';
import { addon, type NativeScoreOptions, type NativeScoreResult, type NativeSession } from '../native.js';
import {
  BatchError,
  CrossrankError,
  fromNative,
  invalidType,
  outOfRange,
  validateBoolean,
  validateInteger,
  validateObject,
  validateOneOf,
  validateString,
  type ItemFailure,
} from '../errors.js';
import { STRATEGIES, Tokenizer, type TruncationStrategy } from '../tokenizer/tokenizer.js';
import { batchSensitive, resolveModelFiles, type Dtype, type ModelConfig } from './model-files.js';
import { ScoreCache, type CachedPair, type ScoreCacheStats } from './score-cache.js';

export type Activation = 'sigmoid' | 'softmax' | 'none';
export type Device = 'cpu' | 'cuda' | 'auto';

export interface ChunkingOptions {
  /** Tokens shared by consecutive windows of a long document. Default 64. */
  stride?: number;
  /** Score at most this many windows per document (0: all). Default 0. */
  maxChunks?: number;
}

export interface CrossEncoderOptions {
  /** Which ONNX file to load: `fp32` → onnx/model.onnx, `q8` → onnx/model_quantized.onnx, … Default 'fp32'. */
  dtype?: Dtype;
  /** An explicit ONNX file, relative to the model directory (overrides `dtype` naming). */
  modelFile?: string;
  /** Tokens per (query, document) pair, special tokens included. Default: the model's limit (usually 512). */
  maxLength?: number;
  /** ONNX Runtime intra-op threads. Default: the number of cores. */
  threads?: number;
  /** How pairs longer than maxLength are cut. Default 'longest_first' (as sentence-transformers). */
  truncation?: TruncationStrategy;
  /** Score normalisation. Default 'sigmoid' for one-label models, 'softmax' otherwise. */
  activation?: Activation;
  /** The label whose score ranks documents. Default 0 for one-label models, else the last label. */
  label?: number;
  /** 'cpu' (default), 'cuda' (fail if unavailable) or 'auto' (CUDA when it works, else CPU). */
  device?: Device;
  /** Most pairs per micro-batch. Default 32, or 1 for quantized models (see `batchInvariant`). */
  batchSize?: number;
  /** Most tokens (rows × padded length) per micro-batch. Default 16384. */
  maxBatchTokens?: number;
  /** Score cache: true (default, 10 000 pairs), false, or its size. */
  cache?: boolean | { maxEntries: number };
  /** Split long documents into overlapping windows and keep the best one. Off by default. */
  chunking?: ChunkingOptions | false;
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

interface Resolved {
  maxLength: number;
  truncation: TruncationStrategy;
  batchSize: number;
  maxBatchTokens: number;
  chunking: Required<ChunkingOptions> | false;
}

function resolveChunking(value: unknown, name: string): Required<ChunkingOptions> | false {
  if (value === undefined || value === false) return false;
  validateObject(value, name);
  const c = value as ChunkingOptions;
  const stride = c.stride ?? 64;
  const maxChunks = c.maxChunks ?? 0;
  validateInteger(stride, `${name}.stride`, 0, 1 << 20);
  validateInteger(maxChunks, `${name}.maxChunks`, 0, 1 << 20);
  return { stride, maxChunks };
}

function abortError(signal: AbortSignal): CrossrankError {
  const e = new CrossrankError('ABORT_ERR', 'The operation was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

function validateDocs(docs: unknown, name = 'docs'): string[] {
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

export class CrossEncoder {
  readonly #session: NativeSession;
  readonly #tokenizer: Tokenizer;
  readonly #cache: ScoreCache | null;
  readonly #defaults: Resolved;
  readonly #scope: string;
  /** The model's config.json facts (labels, limits). */
  readonly config: ModelConfig;
  /** The ONNX file that was loaded. */
  readonly modelPath: string;
  readonly dtype: Dtype;
  readonly activation: Activation;
  readonly label: number;
  readonly maxLength: number;
  readonly threads: number;
  /** The execution provider that actually runs the model ('cpu' or 'cuda'). */
  readonly device: 'cpu' | 'cuda';
  /**
   * Whether scores are independent of batch neighbours. Always true for fp32; for quantized models
   * only with batchSize 1 (the default), because ORT's dynamic quantization scales per tensor.
   */
  readonly batchInvariant: boolean;

  private constructor(args: {
    session: NativeSession;
    tokenizer: Tokenizer;
    config: ModelConfig;
    modelPath: string;
    dtype: Dtype;
    activation: Activation;
    label: number;
    threads: number;
    defaults: Resolved;
    cache: ScoreCache | null;
    batchInvariant: boolean;
  }) {
    this.#session = args.session;
    this.#tokenizer = args.tokenizer;
    this.#cache = args.cache;
    this.#defaults = args.defaults;
    this.config = args.config;
    this.modelPath = args.modelPath;
    this.dtype = args.dtype;
    this.activation = args.activation;
    this.label = args.label;
    this.threads = args.threads;
    this.maxLength = args.defaults.maxLength;
    this.batchInvariant = args.batchInvariant;
    this.device = args.session.info().provider;
    this.#scope = [this.#session.info().path, args.defaults.maxLength, args.defaults.truncation].join('|');
  }

  /**
   * Load a cross-encoder from a local Hugging Face-layout directory (`config.json`, `tokenizer.json`,
   * `onnx/model.onnx`). Throws ERR_MODEL_NOT_FOUND naming the missing file, ERR_MODEL_INPUTS /
   * ERR_MODEL_OUTPUTS when the graph lacks what a cross-encoder needs.
   */
  static async load(dirOrId: string, options: CrossEncoderOptions = {}): Promise<CrossEncoder> {
    validateString(dirOrId, 'model');
    validateObject(options as unknown, 'options');
    const dtype = options.dtype ?? 'fp32';
    const files = resolveModelFiles(dirOrId, dtype, options.modelFile);
    const cfg = files.config;
    const tokenizer = Tokenizer.fromFile(files.tokenizer);

    const limit = cfg.maxPositionEmbeddings ?? 512;
    const maxLength = options.maxLength ?? Math.min(cfg.modelMaxLength ?? limit, limit);
    validateInteger(maxLength, 'options.maxLength', tokenizer.specialTokens.pair + 2, limit);
    const threads = options.threads ?? availableParallelism();
    validateInteger(threads, 'options.threads', 0, 1024);
    const truncation = options.truncation ?? 'longest_first';
    validateOneOf(truncation, 'options.truncation', STRATEGIES);
    const activation = options.activation ?? (cfg.numLabels === 1 ? 'sigmoid' : 'softmax');
    validateOneOf(activation, 'options.activation', ['sigmoid', 'softmax', 'none'] as const);
    if (activation === 'softmax' && cfg.numLabels === 1) {
      throw outOfRange('options.activation', "'sigmoid' or 'none' for a one-label model (softmax over one label is always 1)", activation);
    }
    const label = options.label ?? (cfg.numLabels === 1 ? 0 : cfg.numLabels - 1);
    validateInteger(label, 'options.label', 0, cfg.numLabels - 1);
    const device = options.device ?? 'cpu';
    validateOneOf(device, 'options.device', ['cpu', 'cuda', 'auto'] as const);
    const sensitive = batchSensitive(dtype, files.onnx);
    const batchSize = options.batchSize ?? (sensitive ? 1 : 32);
    validateInteger(batchSize, 'options.batchSize', 1, 1 << 16);
    const maxBatchTokens = options.maxBatchTokens ?? 16384;
    validateInteger(maxBatchTokens, 'options.maxBatchTokens', 1, 1 << 30);
    let cache: ScoreCache | null = new ScoreCache(10_000);
    if (options.cache === false) cache = null;
    else if (options.cache !== undefined && options.cache !== true) {
      validateObject(options.cache, 'options.cache');
      validateInteger(options.cache.maxEntries, 'options.cache.maxEntries', 1);
      cache = new ScoreCache(options.cache.maxEntries);
    }
    const chunking = resolveChunking(options.chunking, 'options.chunking');

    let session: NativeSession;
    try {
      session = new addon.NativeSession(files.onnx, {
        intraThreads: threads,
        interThreads: 1,
        device,
        deviceId: 0,
        optimize: true,
        spinning: true,
      });
    } catch (e) {
      throw fromNative(e);
    }
    const outputs = session.info().outputs;
    if (!outputs.some((o) => o.name === 'logits') && outputs.length !== 1) {
      session.dispose();
      throw new CrossrankError(
        'ERR_MODEL_OUTPUTS',
        `model ${files.onnx} has no output 'logits' (outputs: ${outputs.map((o) => `'${o.name}'`).join(', ')})`,
      );
    }
    return new CrossEncoder({
      session,
      tokenizer,
      config: cfg,
      modelPath: files.onnx,
      dtype,
      activation,
      label,
      threads,
      defaults: { maxLength, truncation, batchSize, maxBatchTokens, chunking },
      cache,
      batchInvariant: !sensitive || batchSize === 1,
    });
  }

  /** The tokenizer this model reads its pairs with. */
  get tokenizer(): Tokenizer {
    return this.#tokenizer;
  }

  /** Runs in flight on this handle. */
  get inFlight(): number {
    return this.#session.inFlight;
  }

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
    const chunked = (options.chunking ?? this.#defaults.chunking) !== false;
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

  /** Release this handle's reference to the shared session. Throws ERR_BUSY while runs are in flight. */
  dispose(): void {
    try {
      this.#session.dispose();
    } catch (e) {
      throw fromNative(e);
    }
  }

  #nativeOptions(chunking: Required<ChunkingOptions> | false): NativeScoreOptions {
    const o = this.#defaults;
    return {
      truncate: true,
      maxLength: o.maxLength,
      strategy: o.truncation,
      stride: chunking ? chunking.stride : 0,
      direction: 'right',
      addSpecialTokens: true,
      returnTokens: false,
      threads: 1,
      chunk: chunking !== false,
      maxChunks: chunking ? chunking.maxChunks : 0,
      tokenBudget: o.maxBatchTokens,
      maxRows: o.batchSize,
      window: 1024,
      label: this.label,
      output: 'logits',
    };
  }

  async #native(queries: string[], docs: string[], pq: Uint32Array | null, opts: NativeScoreOptions, signal?: AbortSignal): Promise<NativeScoreResult> {
    if (signal?.aborted) throw abortError(signal);
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(cancel, 0, 1);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#session.scoreAsync(this.#tokenizer.native, queries, docs, pq, opts, cancel);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_ABORTED' && signal) throw abortError(signal);
      throw fromNative(e);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #run(queries: string[], docs: string[], pq: Uint32Array | null, options: ScoreOptions): Promise<ScoreDetails> {
    validateObject(options as unknown, 'options');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidType('options.signal', 'an AbortSignal', signal);
    const chunking = options.chunking === undefined ? this.#defaults.chunking : resolveChunking(options.chunking, 'options.chunking');
    const opts = this.#nativeOptions(chunking);
    const n = docs.length;
    const labels = this.config.numLabels;
    const pairs: (CachedPair | null)[] = new Array(n).fill(null);
    const failures: ItemFailure[] = [];
    let cached = 0;

    const compute = async (idx: number[], keys: string[] | null) => {
      if (!idx.length) return;
      const subPq = pq ? Uint32Array.from(idx, (i) => pq[i]!) : null;
      let r: NativeScoreResult;
      try {
        r = await this.#native(queries, idx.map((i) => docs[i]!), subPq, opts, signal);
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
      const scope = `${this.#scope}|${opts.chunk ? `${opts.stride}/${opts.maxChunks}` : '-'}`;
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
