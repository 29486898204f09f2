/**
 * crossrank/langchain: LangChain.js components.
 *  - CrossrankRerank: a document compressor with CohereRerank's options and behaviour (`topN`,
 *    `maxChunksPerDoc`, `relevanceScore` in metadata), for a ContextualCompressionRetriever.
 *  - CrossrankEmbeddings: Embeddings over a BiEncoder.
 *  - CrossrankRetriever: a retriever over a Collection, or anything with `search` or `retrieve`.
 *
 * LangChain does not hand a run's `signal` to document compressors. CrossrankRerank stops when the
 * signal of the runnable it runs under fires (a RunnableLambda, a tool, a LangGraph node: LangChain's
 * async-local run config) or when its own `signal` fires.
 */
import type { Callbacks } from '@langchain/core/callbacks/manager';
import type { DocumentInterface } from '@langchain/core/documents';
import type { EmbeddingsParams } from '@langchain/core/embeddings';
import type { BaseRetrieverInput } from '@langchain/core/retrievers';
import type { RunnableConfig } from '@langchain/core/runnables';
import { AsyncLocalStorage } from 'node:async_hooks';
import { CrossrankError, invalidType, validateInteger, validateObject, validateString } from '../errors.js';
import type { BiEncoder, BiEncoderOptions } from '../inference/bi-encoder.js';
import { loadPeer } from './peer.js';
import { eitherSignal, embedderFrom, rankWith, rerankerFrom, type EmbedderSource, type RerankerLike, type RerankerLoadOptions, type RerankerSource } from './shared.js';

export { closeSharedModels, type RerankerLike, type RerankCallOptions, type RerankerLoadOptions } from './shared.js';

const SUBPATH = 'crossrank/langchain';
const [{ BaseDocumentCompressor }, { BaseRetriever }, { Embeddings }, { Document }, { ensureConfig }, { parseCallbackConfigArg }] = await Promise.all([
  loadPeer<typeof import('@langchain/core/retrievers/document_compressors')>('@langchain/core/retrievers/document_compressors', SUBPATH),
  loadPeer<typeof import('@langchain/core/retrievers')>('@langchain/core/retrievers', SUBPATH),
  loadPeer<typeof import('@langchain/core/embeddings')>('@langchain/core/embeddings', SUBPATH),
  loadPeer<typeof import('@langchain/core/documents')>('@langchain/core/documents', SUBPATH),
  loadPeer<typeof import('@langchain/core/runnables')>('@langchain/core/runnables', SUBPATH),
  loadPeer<typeof import('@langchain/core/callbacks/manager')>('@langchain/core/callbacks/manager', SUBPATH),
  // Installs LangChain's AsyncLocalStorage in Node (as LangGraph does), so nested runs see their run's config.
  loadPeer('@langchain/core/context', SUBPATH),
]);

/** The signal of the LangChain run this call is part of, if any (explicit, from a timeout, or inherited). */
function runSignal(config?: RunnableConfig): AbortSignal | undefined {
  return ensureConfig(config).signal;
}

function validateSignal(value: unknown, name: string): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) throw invalidType(name, 'an AbortSignal', value);
}

export interface CrossrankRerankArgs {
  /**
   * A cross-encoder id or directory (loaded on first use and shared), or a loaded reranker: a
   * CrossEncoder, a RerankPool, the LLM reranker or any object with `rerank(query, docs, { topK, signal })`.
   */
  model: RerankerSource;
  /** Loading options when `model` is an id or directory (CrossEncoder.load's; with `pool: true`, RerankPool.create's). */
  modelOptions?: RerankerLoadOptions;
  /** Documents to keep, best first. Default 3, as CohereRerank. */
  topN?: number;
  /** Score long documents as windows and keep each one's best (crossrank's scorers): at most this many windows. */
  maxChunksPerDoc?: number;
  /** Cancels every call of this compressor (in addition to the signal of the run it is part of). */
  signal?: AbortSignal;
}

export interface RerankCallArgs {
  topN?: number;
  maxChunksPerDoc?: number;
  signal?: AbortSignal;
}

/**
 * A document compressor that reranks with a cross-encoder: CohereRerank's drop-in, in process.
 * Returned documents are copies whose metadata carries `relevanceScore`.
 */
export class CrossrankRerank extends BaseDocumentCompressor {
  readonly topN: number;
  readonly maxChunksPerDoc: number | undefined;
  readonly #get: () => Promise<RerankerLike>;
  readonly #signal: AbortSignal | undefined;

  constructor(fields: CrossrankRerankArgs) {
    super();
    validateObject(fields as unknown, 'fields');
    this.#get = rerankerFrom(fields.model, fields.modelOptions, 'fields.model');
    this.topN = fields.topN ?? 3;
    validateInteger(this.topN, 'fields.topN', 1);
    this.maxChunksPerDoc = fields.maxChunksPerDoc;
    if (this.maxChunksPerDoc !== undefined) validateInteger(this.maxChunksPerDoc, 'fields.maxChunksPerDoc', 1);
    validateSignal(fields.signal, 'fields.signal');
    this.#signal = fields.signal;
  }

  /** Load (once) and return the reranker. */
  load(): Promise<RerankerLike> {
    return this.#get();
  }

  /**
   * The `topN` best documents for `query`, best first, each a copy with `metadata.relevanceScore`.
   * Empty input gives an empty answer without loading the model.
   */
  async compressDocuments(documents: DocumentInterface[], query: string, _callbacks?: Callbacks): Promise<DocumentInterface[]> {
    if (documents == null || documents.length === 0) return [];
    const ranking = await this.rerank(documents, query);
    return ranking.map(({ index, relevanceScore }) => {
      const d = documents[index]!;
      return new Document({ pageContent: d.pageContent, metadata: { ...d.metadata, relevanceScore }, ...(d.id !== undefined ? { id: d.id } : {}) });
    });
  }

  /** Indices and scores of the best documents, as CohereRerank.rerank answers. */
  async rerank(documents: (DocumentInterface | string | { pageContent: string })[], query: string, options: RerankCallArgs = {}): Promise<{ index: number; relevanceScore: number }[]> {
    if (!Array.isArray(documents)) throw invalidType('documents', 'an array of documents or strings', documents);
    validateString(query, 'query');
    validateObject(options as unknown, 'options');
    validateSignal(options.signal, 'options.signal');
    const texts = documents.map((d, i) => {
      const t = typeof d === 'string' ? d : (d as { pageContent?: unknown })?.pageContent;
      if (typeof t !== 'string') throw invalidType(`documents[${i}]`, 'a string or a document with a string pageContent', d);
      return t;
    });
    const maxChunks = options.maxChunksPerDoc ?? this.maxChunksPerDoc;
    if (maxChunks !== undefined) validateInteger(maxChunks, 'options.maxChunksPerDoc', 1);
    const { ranking } = await rankWith(await this.#get(), query, texts, {
      topK: options.topN ?? this.topN,
      signal: eitherSignal(eitherSignal(options.signal, this.#signal), runSignal()),
      ...(maxChunks !== undefined ? { chunking: { maxChunks } } : {}),
    });
    return ranking.map((r) => ({ index: r.index, relevanceScore: r.score }));
  }
}

export interface CrossrankEmbeddingsArgs extends EmbeddingsParams {
  /** A bi-encoder id or directory (loaded on first use and shared), or a loaded BiEncoder. */
  model: EmbedderSource;
  /** BiEncoder.load options when `model` is an id or directory. */
  modelOptions?: BiEncoderOptions;
  /** Cancels every call (in addition to the signal of the run it is part of). */
  signal?: AbortSignal;
}

/** LangChain Embeddings over crossrank's BiEncoder (runs in process: no retries, no request batching). */
export class CrossrankEmbeddings extends Embeddings {
  readonly #get: () => Promise<BiEncoder>;
  readonly #signal: AbortSignal | undefined;

  constructor(fields: CrossrankEmbeddingsArgs) {
    validateObject(fields as unknown, 'fields');
    const { model, modelOptions, signal, ...params } = fields;
    super(params);
    this.#get = embedderFrom(model, modelOptions, 'fields.model');
    validateSignal(signal, 'fields.signal');
    this.#signal = signal;
  }

  /** Load (once) and return the BiEncoder. */
  load(): Promise<BiEncoder> {
    return this.#get();
  }

  async embedDocuments(documents: string[]): Promise<number[][]> {
    const bi = await this.#get();
    const signal = eitherSignal(this.#signal, runSignal());
    const flat = await bi.embed(documents, signal ? { signal } : {});
    const dim = bi.dim;
    return documents.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
  }

  async embedQuery(document: string): Promise<number[]> {
    validateString(document, 'document');
    return (await this.embedDocuments([document]))[0]!;
  }
}

/** A hit as crossrank's Collection returns it: `text` (or `pageContent`), and optionally `id`, `score`, `metadata` and more. */
export interface SearchHitLike {
  text?: string;
  pageContent?: string;
  id?: string | number;
  metadata?: Record<string, unknown>;
}

type SearchAnswer = readonly SearchHitLike[] | { hits: readonly SearchHitLike[] };

/** What CrossrankRetriever reads from: a Collection (`search`), or anything with `search` or `retrieve`. */
export type SearchSource =
  | { search(query: string, options: Record<string, unknown>): Promise<SearchAnswer> }
  | { retrieve(query: string, options: Record<string, unknown>): Promise<SearchAnswer> };

export interface CrossrankRetrieverArgs extends BaseRetrieverInput {
  /** A Collection, or any object with `search(query, options)` or `retrieve(query, options)` answering hits or `{ hits }`. */
  source: SearchSource;
  /** Documents to return (passed as `topK`). Default 4, as LangChain's vector store retrievers. */
  k?: number;
  /** Passed on with every call (for a Collection: `first`, `candidates`, `rerank`, `latencyBudgetMs`, ...). */
  searchOptions?: Record<string, unknown>;
}

const runs = new AsyncLocalStorage<AbortSignal | undefined>();

/**
 * A LangChain retriever over crossrank's two-stage search (or any search function of that shape).
 * Each hit becomes a Document: `pageContent` is its text, `metadata` its own metadata plus the
 * hit's other fields (id, score, rank, firstStageRank, ...). `invoke(query, { signal })` cancels.
 */
export class CrossrankRetriever extends BaseRetriever {
  static lc_name(): string {
    return 'CrossrankRetriever';
  }
  lc_namespace = ['crossrank', 'retrievers'];
  readonly k: number;
  readonly searchOptions: Record<string, unknown>;
  readonly #source: SearchSource;
  readonly #method: 'search' | 'retrieve';

  constructor(fields: CrossrankRetrieverArgs) {
    validateObject(fields as unknown, 'fields');
    const { source, k, searchOptions, ...base } = fields;
    super(base);
    const has = (m: string) => source !== null && typeof source === 'object' && typeof (source as Record<string, unknown>)[m] === 'function';
    if (!has('search') && !has('retrieve')) throw invalidType('fields.source', 'a Collection or an object with a search(query, options) or retrieve(query, options) method', source);
    this.#source = source;
    this.#method = has('search') ? 'search' : 'retrieve';
    this.k = k ?? 4;
    validateInteger(this.k, 'fields.k', 1);
    if (searchOptions !== undefined) validateObject(searchOptions, 'fields.searchOptions');
    this.searchOptions = searchOptions ?? {};
  }

  override invoke(input: string, options?: RunnableConfig): Promise<DocumentInterface[]> {
    // BaseRetriever.invoke does not pass the config down to _getRelevantDocuments: keep its signal here.
    return runs.run(runSignal(parseCallbackConfigArg(options)), () => super.invoke(input, options));
  }

  async _getRelevantDocuments(query: string): Promise<DocumentInterface[]> {
    validateString(query, 'query');
    const signal = runs.getStore();
    const source = this.#source as unknown as Record<string, (q: string, o: Record<string, unknown>) => Promise<unknown>>;
    const answer = await source[this.#method]!(query, { ...this.searchOptions, topK: this.k, ...(signal ? { signal } : {}) });
    const hits = Array.isArray(answer) ? answer : (answer as { hits?: unknown })?.hits;
    if (!Array.isArray(hits)) throw new CrossrankError('ERR_RETRIEVER_OUTPUT', `${this.#method}() answered ${typeof answer}; expected an array of hits or { hits: [...] }`);
    return hits.map((h: unknown, i) => {
      const { text, pageContent, metadata, ...rest } = (h ?? {}) as SearchHitLike & Record<string, unknown>;
      const content = text ?? pageContent;
      if (typeof content !== 'string') throw new CrossrankError('ERR_RETRIEVER_OUTPUT', `${this.#method}() hit ${i} has no string "text" (or "pageContent")`);
      const id = rest.id;
      return new Document({ pageContent: content, metadata: { ...metadata, ...rest }, ...(id !== undefined ? { id: String(id) } : {}) });
    });
  }
}
