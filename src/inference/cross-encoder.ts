/**
 * The cross-encoder reranker: reads each (query, document) pair together and scores it. Tokenizing,
 * length-sorted micro-batching and ONNX Runtime inference run natively off the event loop; the
 * session is shared process-wide, so every handle (and every worker thread) on the same model file
 * uses one copy of the weights.
 */
import { availableParallelism } from 'node:os';
import { addon, type NativeScoreOptions, type NativeSession } from '../native.js';
import { CrossrankError, fromNative, outOfRange, validateInteger, validateObject, validateOneOf, validateString } from '../errors.js';
import { STRATEGIES, Tokenizer, type TruncationStrategy } from '../tokenizer/tokenizer.js';
import { locateModel, type HubOptions } from '../hub/hub.js';
import { batchSensitive, checkModelKind, DTYPES, onnxCandidates, OPTIONAL_FILES, REQUIRED_FILES, resolveModelFiles, type Dtype, type ModelConfig, type ModelFiles } from './model-files.js';
import { ScoreCache } from './score-cache.js';
import { abortError, resolveChunking, Scorer, type Activation, type ChunkingOptions, type RawRequest, type RawScores, type ScorerSetup } from './scorer.js';

export type Device = 'cpu' | 'cuda' | 'auto';

export interface CrossEncoderOptions extends HubOptions {
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
  /** Most tokens (rows × padded length) per micro-batch. Default 1024: on CPU small batches are as fast or faster (MiniLM-L6, 2 threads, 512-token pairs: 4.3 s per 64 pairs at 1024, 5.3 s at 4096) and activation memory grows with the budget (+0.1 GiB at 1024, +1.7 GiB at 16384). */
  maxBatchTokens?: number;
  /** Score cache: true (default, 10 000 pairs), false, or its size. */
  cache?: boolean | { maxEntries: number };
  /** Split long documents into overlapping windows and keep the best one. Off by default. */
  chunking?: ChunkingOptions | false;
}

/** Load options after validation and defaults: plain data, so it can be sent to worker threads. */
export interface ResolvedModel {
  files: ModelFiles;
  maxLength: number;
  threads: number;
  truncation: TruncationStrategy;
  activation: Activation;
  label: number;
  device: Device;
  batchSize: number;
  maxBatchTokens: number;
  cacheEntries: number;  // 0: off
  chunking: Required<ChunkingOptions> | false;
  batchInvariant: boolean;
}

/**
 * Find the model (a local directory, or a hub id fetched into the Hugging Face cache), validate
 * `options` against it and fill in every default.
 */
export async function resolveModel(dirOrId: string, options: CrossEncoderOptions = {}): Promise<ResolvedModel> {
  validateString(dirOrId, 'model');
  validateObject(options as unknown, 'options');
  const dtype = options.dtype ?? 'fp32';
  validateOneOf(dtype, 'options.dtype', DTYPES);
  if (options.modelFile !== undefined) validateString(options.modelFile, 'options.modelFile');
  const dir = await locateModel(dirOrId, { onnx: onnxCandidates(dtype, options.modelFile), required: REQUIRED_FILES, optional: OPTIONAL_FILES }, options);
  const files = resolveModelFiles(dir, dtype, options.modelFile);
  checkModelKind(files, 'CrossEncoder');
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
  const maxBatchTokens = options.maxBatchTokens ?? 1024;
  validateInteger(maxBatchTokens, 'options.maxBatchTokens', 1, 1 << 30);
  let cacheEntries = 10_000;
  if (options.cache === false) cacheEntries = 0;
  else if (options.cache !== undefined && options.cache !== true) {
    validateObject(options.cache, 'options.cache');
    validateInteger(options.cache.maxEntries, 'options.cache.maxEntries', 1);
    cacheEntries = options.cache.maxEntries;
  }
  const chunking = resolveChunking(options.chunking, 'options.chunking');
  return {
    files,
    maxLength,
    threads,
    truncation,
    activation,
    label,
    device,
    batchSize,
    maxBatchTokens,
    cacheEntries,
    chunking,
    batchInvariant: !sensitive || batchSize === 1,
  };
}

/** What a Scorer front end needs from a resolved model; the cache scope names every option that changes scores. */
export function scorerSetup(m: ResolvedModel): ScorerSetup {
  return {
    activation: m.activation,
    label: m.label,
    numLabels: m.files.config.numLabels,
    chunking: m.chunking,
    cache: m.cacheEntries ? new ScoreCache(m.cacheEntries) : null,
    scope: [m.files.onnx, m.maxLength, m.truncation].join('|'),
    maxLength: m.maxLength,
  };
}

export class CrossEncoder extends Scorer {
  readonly #session: NativeSession;
  readonly #tokenizer: Tokenizer;
  readonly #model: ResolvedModel;
  /** The model's config.json facts (labels, limits). */
  readonly config: ModelConfig;
  /** The ONNX file that was loaded. */
  readonly modelPath: string;
  readonly dtype: Dtype;
  readonly threads: number;
  /** The execution provider that actually runs the model ('cpu' or 'cuda'). */
  readonly device: 'cpu' | 'cuda';
  /**
   * Whether scores are independent of batch neighbours. Always true for fp32; for quantized models
   * only with batchSize 1 (the default), because ORT's dynamic quantization scales per tensor.
   */
  readonly batchInvariant: boolean;

  private constructor(model: ResolvedModel, session: NativeSession, tokenizer: Tokenizer) {
    super(scorerSetup(model));
    this.#session = session;
    this.#tokenizer = tokenizer;
    this.#model = model;
    this.config = model.files.config;
    this.modelPath = model.files.onnx;
    this.dtype = model.files.dtype;
    this.threads = model.threads;
    this.batchInvariant = model.batchInvariant;
    this.device = session.info().provider;
  }

  /**
   * Load a cross-encoder from a local Hugging Face-layout directory (`config.json`, `tokenizer.json`,
   * `onnx/model.onnx`) or by hub id ('cross-encoder/ms-marco-MiniLM-L6-v2', fetched into the
   * Hugging Face cache; see {@link HubOptions}). Throws ERR_MODEL_NOT_FOUND naming the missing file,
   * ERR_MODEL_INPUTS / ERR_MODEL_OUTPUTS when the graph lacks what a cross-encoder needs.
   */
  static async load(dirOrId: string, options: CrossEncoderOptions = {}): Promise<CrossEncoder> {
    return CrossEncoder.fromResolved(await resolveModel(dirOrId, options));
  }

  /** Load from options already resolved by {@link resolveModel} (used by pool workers). */
  static fromResolved(model: ResolvedModel): CrossEncoder {
    const tokenizer = Tokenizer.fromFile(model.files.tokenizer);
    let session: NativeSession;
    try {
      session = new addon.NativeSession(model.files.onnx, {
        intraThreads: model.threads,
        interThreads: 1,
        device: model.device,
        deviceId: 0,
        optimize: true,
        spinning: true,
      });
    } catch (e) {
      throw fromNative(e);
    }
    const outputs = session.info().outputs;
    const out = outputs.find((o) => o.name === 'logits') ?? (outputs.length === 1 ? outputs[0] : undefined);
    const fail = (why: string) => {
      session.dispose();
      return new CrossrankError('ERR_MODEL_OUTPUTS', `model ${model.files.onnx} ${why}`);
    };
    if (!out) throw fail(`has no output 'logits' (outputs: ${outputs.map((o) => `'${o.name}'`).join(', ')})`);
    // A cross-encoder answers [batch, labels]; a bi-encoder's [batch, tokens, hidden] would be read
    // as thousands of "labels" per pair.
    if (out.shape.length !== 2 && out.shape.length !== 0) {  // 0: rank not declared (checked per batch)
      throw fail(`output '${out.name}' has shape [${out.shape.join(', ')}], expected [batch, labels]: is this a bi-encoder (use BiEncoder)?`);
    }
    const width = out.shape[1] ?? -1;
    if (width > 0 && width !== model.files.config.numLabels) {
      throw fail(`output '${out.name}' has ${width} labels but config.json declares ${model.files.config.numLabels}`);
    }
    return new CrossEncoder(model, session, tokenizer);
  }

  /** The tokenizer this model reads its pairs with. */
  get tokenizer(): Tokenizer {
    return this.#tokenizer;
  }

  /** Runs in flight on this handle. */
  get inFlight(): number {
    return this.#session.inFlight;
  }

  /** Release this handle's reference to the shared session. Throws ERR_BUSY while runs are in flight. */
  dispose(): void {
    try {
      this.#session.dispose();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * Raw scores with an external cancel flag (`cancel[0] = 1` stops between micro-batches), for
   * callers that cannot hand over an AbortSignal, such as pool workers.
   */
  async scoreRawWithFlag(req: RawRequest, cancel: Int32Array): Promise<RawScores> {
    try {
      const opts = this.#nativeOptions(req.chunking);
      return await this.#session.scoreAsync(this.#tokenizer.native, req.queries, req.docs, req.pairQuery, opts, cancel);
    } catch (e) {
      throw fromNative(e);
    }
  }

  protected async computeRaw(req: RawRequest, signal: AbortSignal | undefined): Promise<RawScores> {
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const onAbort = () => Atomics.store(cancel, 0, 1);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.scoreRawWithFlag(req, cancel);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_ABORTED' && signal) throw abortError(signal);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #nativeOptions(chunking: Required<ChunkingOptions> | false): NativeScoreOptions {
    const m = this.#model;
    return {
      truncate: true,
      maxLength: m.maxLength,
      strategy: m.truncation,
      stride: chunking ? chunking.stride : 0,
      direction: 'right',
      addSpecialTokens: true,
      returnTokens: false,
      threads: 1,
      chunk: chunking !== false,
      maxChunks: chunking ? chunking.maxChunks : 0,
      tokenBudget: m.maxBatchTokens,
      maxRows: m.batchSize,
      window: 1024,
      label: m.label,
      output: 'logits',
    };
  }
}
