/**
 * crossrank/ai-sdk: a Vercel AI SDK provider. `rerankingModel` gives a RerankingModelV4 (or V3) over
 * an in-process CrossEncoder, a RerankPool or any crossrank-shaped reranker, for `rerank()` from
 * `ai`; `embeddingModel` gives an EmbeddingModelV4 (or V3) over a BiEncoder, for `embed()` and
 * `embedMany()`. Models named by id or directory are loaded on first use and shared.
 */
import type {
  EmbeddingModelV3,
  EmbeddingModelV4,
  EmbeddingModelV4CallOptions,
  EmbeddingModelV4Result,
  ProviderV3,
  ProviderV4,
  RerankingModelV3,
  RerankingModelV4,
  RerankingModelV4CallOptions,
  RerankingModelV4Result,
  SharedV4Warning,
} from '@ai-sdk/provider';
import { CrossrankError, invalidType, validateObject, validateOneOf, validateString } from '../errors.js';
import type { BiEncoder, BiEncoderOptions } from '../inference/bi-encoder.js';
import { Scorer, resolveChunking } from '../inference/scorer.js';
import { loadPeer } from './peer.js';
import {
  embedderFrom,
  rankWith,
  rerankerFrom,
  rerankerId,
  type EmbedderSource,
  type RerankerLike,
  type RerankerLoadOptions,
  type RerankerSource,
} from './shared.js';

export { closeSharedModels, type RerankerLike, type RerankCallOptions, type RerankerLoadOptions } from './shared.js';

const { NoSuchModelError } = await loadPeer<typeof import('@ai-sdk/provider')>('@ai-sdk/provider', 'crossrank/ai-sdk');

export type SpecificationVersion = 'v3' | 'v4';

export interface CrossrankProviderOptions<V extends SpecificationVersion = 'v4'> {
  /** Provider name: models report `<name>.reranking` / `<name>.embedding`; provider options are read from `providerOptions[name]`. Default 'crossrank'. */
  name?: string;
  /** 'v4' (default) for `ai` 7, 'v3' for `ai` 6. */
  specificationVersion?: V;
  /** Defaults for every reranking model named by id or directory (CrossEncoder.load options; with `pool: true`, RerankPool.create options). */
  reranking?: RerankerLoadOptions;
  /** Defaults for every embedding model named by id or directory (BiEncoder.load options). */
  embedding?: BiEncoderOptions;
}

export interface RerankingModelSettings extends RerankerLoadOptions {
  /** The model id reported to the AI SDK. Default: the id or directory, or the reranker's `modelId`. */
  modelId?: string;
}

export interface EmbeddingModelSettings extends BiEncoderOptions {
  modelId?: string;
}

/**
 * What `providerOptions.crossrank` (or the provider's name) may hold for `rerank()`. Other keys are
 * passed on to rerankers that are not crossrank's own (an LLM reranker may read them).
 */
export interface CrossrankRerankingOptions {
  /** Object documents: the fields to read, joined by newlines. Default: the whole object as JSON (as @ai-sdk/cohere sends it). */
  rankFields?: string[];
  /** Score long documents window by window (crossrank's scorers). */
  chunking?: { stride?: number; maxChunks?: number } | false;
}

type Rerank<V extends SpecificationVersion> = V extends 'v3' ? RerankingModelV3 : RerankingModelV4;
type Embed<V extends SpecificationVersion> = V extends 'v3' ? EmbeddingModelV3 : EmbeddingModelV4;

export type CrossrankRerankingModel<V extends SpecificationVersion = 'v4'> = Omit<Rerank<V>, 'doRerank'> & {
  doRerank(options: Parameters<Rerank<V>['doRerank']>[0]): Promise<Awaited<ReturnType<Rerank<V>['doRerank']>>>;
  /** Load (once) and return the reranker behind this model. */
  load(): Promise<RerankerLike>;
};

export type CrossrankEmbeddingModel<V extends SpecificationVersion = 'v4'> = Omit<Embed<V>, 'doEmbed'> & {
  doEmbed(options: Parameters<Embed<V>['doEmbed']>[0]): Promise<Awaited<ReturnType<Embed<V>['doEmbed']>>>;
  /** Load (once) and return the BiEncoder behind this model. */
  load(): Promise<BiEncoder>;
};

export interface CrossrankProvider<V extends SpecificationVersion = 'v4'> {
  readonly specificationVersion: V;
  /**
   * A reranking model over a cross-encoder id or directory (loaded on first use, shared), a loaded
   * CrossEncoder or RerankPool, or any object with `rerank(query, docs, { topK, signal })`.
   */
  rerankingModel(model: RerankerSource, settings?: RerankingModelSettings): CrossrankRerankingModel<V>;
  /** An embedding model over a bi-encoder id or directory (loaded on first use, shared) or a loaded BiEncoder. */
  embeddingModel(model: EmbedderSource, settings?: EmbeddingModelSettings): CrossrankEmbeddingModel<V>;
  /** The same as {@link embeddingModel} (the AI SDK's older name). */
  textEmbeddingModel(model: EmbedderSource, settings?: EmbeddingModelSettings): CrossrankEmbeddingModel<V>;
  /** crossrank has no language models: throws NoSuchModelError. */
  languageModel(modelId: string): never;
  /** crossrank has no image models: throws NoSuchModelError. */
  imageModel(modelId: string): never;
}

// The provider satisfies the AI SDK's provider interfaces (checked at compile time only).
type Satisfies<T extends U, U> = T;
type ProviderChecks = [Satisfies<CrossrankProvider<'v4'>, ProviderV4>, Satisfies<CrossrankProvider<'v3'>, ProviderV3>];

function readOptions(providerOptions: unknown, name: string): Record<string, unknown> {
  if (providerOptions === undefined || providerOptions === null) return {};
  validateObject(providerOptions, 'providerOptions');
  const own = providerOptions[name];
  if (own === undefined) return {};
  validateObject(own, `providerOptions.${name}`);
  return own;
}

function documentTexts(documents: RerankingModelV4CallOptions['documents'], rankFields: unknown, name: string, warnings: SharedV4Warning[]): string[] {
  if (documents === null || typeof documents !== 'object' || !Array.isArray(documents.values)) {
    throw invalidType('documents', "{ type: 'text' | 'object', values: [...] }", documents);
  }
  if (documents.type === 'text') {
    documents.values.forEach((v, i) => validateString(v, `documents.values[${i}]`));
    return documents.values;
  }
  validateOneOf(documents.type, 'documents.type', ['text', 'object'] as const);
  if (rankFields === undefined) {
    warnings.push({ type: 'compatibility', feature: 'object documents', details: `Objects are read as JSON text; set providerOptions.${name}.rankFields to read chosen fields.` });
    return documents.values.map((v) => JSON.stringify(v));
  }
  if (!Array.isArray(rankFields) || rankFields.length === 0 || rankFields.some((f) => typeof f !== 'string')) {
    throw invalidType(`providerOptions.${name}.rankFields`, 'a non-empty array of strings', rankFields);
  }
  return documents.values.map((v, i) => {
    const parts = (rankFields as string[]).filter((f) => v[f] !== undefined && v[f] !== null).map((f) => v[f]);
    if (parts.length === 0 || parts.some((p) => typeof p !== 'string')) {
      throw invalidType(`documents.values[${i}]`, `an object with string field(s) ${(rankFields as string[]).map((f) => `"${f}"`).join(', ')}`, v);
    }
    return parts.join('\n');
  });
}

/** What both model kinds share: the AI SDK's identification fields and a lazy, shared load. */
class Model<T> {
  readonly specificationVersion: SpecificationVersion;
  readonly provider: string;
  readonly modelId: string;
  protected readonly name: string;
  readonly #get: () => Promise<T>;

  constructor(kind: 'reranking' | 'embedding', version: SpecificationVersion, name: string, modelId: string, get: () => Promise<T>) {
    this.specificationVersion = version;
    this.provider = `${name}.${kind}`;
    this.modelId = modelId;
    this.name = name;
    this.#get = get;
  }

  /** Load (once) and return the model behind this handle. */
  load(): Promise<T> {
    return this.#get();
  }
}

class RerankingModel extends Model<RerankerLike> {

  async doRerank(options: RerankingModelV4CallOptions): Promise<RerankingModelV4Result> {
    validateObject(options as unknown, 'options');
    const { documents, query, topN, abortSignal, headers, providerOptions } = options;
    if (abortSignal !== undefined && !(abortSignal instanceof AbortSignal)) throw invalidType('abortSignal', 'an AbortSignal', abortSignal);
    const warnings: SharedV4Warning[] = [];
    const { rankFields, chunking, ...other } = readOptions(providerOptions, this.name);
    const texts = documentTexts(documents, rankFields, this.name, warnings);
    const reranker = await this.load();
    const own = reranker instanceof Scorer;
    if (own) {
      // Headers are for HTTP providers (the spec says so); an in-process model has no use for them.
      for (const k of Object.keys(other)) warnings.push({ type: 'unsupported', feature: `providerOptions.${this.name}.${k}` });
    }
    const result = await rankWith(reranker, query, texts, {
      ...(topN !== undefined ? { topK: topN } : {}),
      ...(abortSignal ? { signal: abortSignal } : {}),
      ...(chunking !== undefined ? { chunking: resolveChunking(chunking, `providerOptions.${this.name}.chunking`) } : {}),
      ...(!own && headers ? { headers } : {}),
      ...(!own && Object.keys(other).length ? { providerOptions: other } : {}),
    });
    return {
      ranking: result.ranking.map((r) => ({ index: r.index, relevanceScore: r.score })),
      providerMetadata: {
        [this.name]: { documents: texts.length, ...(result.truncated !== undefined ? { truncated: result.truncated } : {}) },
      },
      warnings,
      response: { modelId: this.modelId, timestamp: new Date() },
    };
  }
}

class EmbeddingModel extends Model<BiEncoder> {
  /** The BiEncoder batches internally: one call takes every value. */
  readonly maxEmbeddingsPerCall = Number.POSITIVE_INFINITY;
  /** Calls share the process's cores; running them side by side gains nothing. */
  readonly supportsParallelCalls = false;

  async doEmbed(options: EmbeddingModelV4CallOptions): Promise<EmbeddingModelV4Result> {
    validateObject(options as unknown, 'options');
    const { values, dimensions, abortSignal, providerOptions } = options;
    if (!Array.isArray(values)) throw invalidType('values', 'an array of strings', values);
    if (abortSignal !== undefined && !(abortSignal instanceof AbortSignal)) throw invalidType('abortSignal', 'an AbortSignal', abortSignal);
    const bi = await this.load();
    const mismatch = (dim: number) =>
      new CrossrankError('ERR_UNSUPPORTED', `dimensions: this model gives ${dim}-dimensional vectors; ${JSON.stringify(dimensions)} was asked for`);
    if (dimensions !== undefined && bi.dim > 0 && dimensions !== bi.dim) throw mismatch(bi.dim);
    const warnings: SharedV4Warning[] = [];
    for (const k of Object.keys(readOptions(providerOptions, this.name))) warnings.push({ type: 'unsupported', feature: `providerOptions.${this.name}.${k}` });
    const [flat, encodings] = await Promise.all([
      bi.embed(values, abortSignal ? { signal: abortSignal } : {}),
      // Usage: the tokens the model read, as it cut them (one cheap native tokenization pass).
      bi.tokenizer.encodeBatch(values, { maxLength: bi.maxLength, truncation: 'longest_first', threads: 1 }),
    ]);
    const dim = bi.dim;
    if (dimensions !== undefined && dimensions !== dim) throw mismatch(dim);
    const embeddings = values.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
    return { embeddings, usage: { tokens: encodings.reduce((n, e) => n + e.ids.length, 0) }, warnings };
  }
}

/**
 * Create a crossrank provider for the Vercel AI SDK.
 *
 * ```ts
 * const crossrank = createCrossrank();
 * const { ranking } = await rerank({ model: crossrank.rerankingModel('cross-encoder/ms-marco-MiniLM-L6-v2'), query, documents, topN: 5 });
 * ```
 */
export function createCrossrank<V extends SpecificationVersion = 'v4'>(options: CrossrankProviderOptions<V> = {}): CrossrankProvider<V> {
  validateObject(options as unknown, 'options');
  const name = options.name ?? 'crossrank';
  validateString(name, 'options.name');
  const version = options.specificationVersion ?? 'v4';
  validateOneOf(version, 'options.specificationVersion', ['v3', 'v4'] as const);
  if (options.reranking !== undefined) validateObject(options.reranking, 'options.reranking');
  if (options.embedding !== undefined) validateObject(options.embedding, 'options.embedding');

  const embeddingModel = (model: EmbedderSource, settings: EmbeddingModelSettings = {}) => {
    validateObject(settings as unknown, 'settings');
    const { modelId, ...load } = settings;
    const get = embedderFrom(model, { ...options.embedding, ...load }, 'model');
    const id = modelId ?? (typeof model === 'string' ? model : model.modelDir);
    return new EmbeddingModel('embedding', version, name, id, get) as unknown as CrossrankEmbeddingModel<V>;
  };
  const none = (modelType: 'languageModel' | 'imageModel') => (modelId: string): never => {
    throw new NoSuchModelError({ modelId, modelType, message: `crossrank has no ${modelType === 'languageModel' ? 'language' : 'image'} models (asked for '${modelId}'); it provides reranking and embedding models` });
  };
  return {
    specificationVersion: version as V,
    rerankingModel(model, settings = {}) {
      validateObject(settings as unknown, 'settings');
      const { modelId, ...load } = settings;
      const get = rerankerFrom(model, { ...options.reranking, ...load }, 'model');
      return new RerankingModel('reranking', version, name, modelId ?? rerankerId(model), get) as unknown as CrossrankRerankingModel<V>;
    },
    embeddingModel,
    textEmbeddingModel: embeddingModel,
    languageModel: none('languageModel'),
    imageModel: none('imageModel'),
  };
}

/** A provider with default options: `crossrank.rerankingModel(idOrDir)`, `crossrank.embeddingModel(idOrDir)`. */
export const crossrank: CrossrankProvider<'v4'> = createCrossrank();
