/**
 * The first-stage interface: anything that turns a query into ranked candidates (a Collection, a
 * bare FAISS/BM25 index, pgvector, Elasticsearch through a function, …).
 */

/** One first-stage hit. */
export interface Candidate {
  /** The document's id, unique within one result list. */
  id: string;
  /** The text a reranker reads. */
  text: string;
  /** The retriever's own score, higher is better (distances are negated); only comparable within one retriever. */
  score: number;
  /** Anything the source stores with the document; passed through untouched. */
  metadata?: Record<string, unknown>;
}

export interface RetrieveOptions {
  /** Most candidates to return (best first). */
  k: number;
  /** Cancels the retrieval; the promise rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal;
}

export interface Retriever {
  /** The best (at most) `k` candidates for `query`, best first. */
  retrieve(query: string, options: RetrieveOptions): Promise<Candidate[]>;
}

/** Turns texts into vectors, one row of the result per text (a BiEncoder does). */
export interface Embedder {
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<Float32Array>;
}
