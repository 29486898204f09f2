/**
 * The one reranker interface: the in-process CrossEncoder, the worker-thread RerankPool and the
 * LlmReranker all satisfy it, so a pipeline, a cascade or the server can take any of them.
 */
import type { RerankDocument, RerankResult } from '../inference/scorer.js';
import type { CrossEncoder } from '../inference/cross-encoder.js';
import type { RerankPool } from '../pool/rerank-pool.js';

export type { RerankDocument, RerankResult };

/** Options every reranker accepts. Implementations may take more (chunking, …). */
export interface RerankerOptions {
  /** How many results to return, best first. Default: all. */
  topK?: number;
  /** Cancels the work; the promise rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal;
  /** Include each input document in its result. Default false. */
  returnDocuments?: boolean;
}

/**
 * Reorders `docs` for `query`. Results are best first, at most `topK`; each names its input
 * position (`index`) and, for object documents, their `id`.
 */
export interface Reranker {
  rerank<D extends RerankDocument>(query: string, docs: readonly D[], options?: RerankerOptions): Promise<RerankResult<D>[]>;
}

// Compile-time conformance: the build fails if a built-in reranker drifts from the interface.
type Conforms<T extends Reranker> = T;
type BuiltIns = [Conforms<CrossEncoder>, Conforms<RerankPool>];
