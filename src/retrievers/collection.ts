/**
 * A Collection as a first stage (the embedded default): dense, BM25, or both fused by
 * reciprocal-rank fusion of their rowid lists. Each retrieve reads one checkpoint (a snapshot), so
 * a reader's background refresh never mixes two in one result.
 */
import type { Collection, FirstStage } from '../collection/collection.js';
import { CrossrankError, invalidType, validateObject, validateOneOf } from '../errors.js';
import type { SearchParams } from '../index/faiss-index.js';
import { reciprocalRankFusion } from '../index/fusion.js';
import { abortError } from '../inference/scorer.js';
import { validateRetrieve } from './common.js';
import type { Candidate, RetrieveOptions, Retriever } from './types.js';

export interface CollectionRetrieverOptions {
  /** Default: 'hybrid' when the collection has both indexes, else the one it has. */
  first?: FirstStage;
  /** IVF nprobe / HNSW efSearch for the dense side. */
  nprobe?: number;
  efSearch?: number;
}

export class CollectionRetriever implements Retriever {
  readonly collection: Collection;
  /** The first stage this retriever runs. */
  readonly first: FirstStage;
  readonly #params: SearchParams;

  constructor(collection: Collection, options: CollectionRetrieverOptions = {}) {
    if (collection === null || typeof collection !== 'object' || typeof (collection as Collection).snapshot !== 'function') throw invalidType('collection', 'a Collection', collection);
    validateObject(options as unknown, 'options');
    const snap = collection.snapshot();
    const first = options.first ?? (snap.dense && snap.bm25 ? 'hybrid' : snap.dense ? 'dense' : 'bm25');
    validateOneOf(first, 'options.first', ['dense', 'bm25', 'hybrid'] as const);
    if (first !== 'bm25' && !snap.dense) throw new CrossrankError('ERR_NO_DENSE_INDEX', 'this collection has no dense index');
    if (first !== 'dense' && !snap.bm25) throw new CrossrankError('ERR_NO_BM25_INDEX', 'this collection has no BM25 index');
    this.collection = collection;
    this.first = first;
    this.#params = {};
    if (options.nprobe !== undefined) this.#params.nprobe = options.nprobe;
    if (options.efSearch !== undefined) this.#params.efSearch = options.efSearch;
  }

  /**
   * The best `k` live documents. Dense scores are the index's (inner product or L2 distance as
   * FAISS reports it), BM25 scores are BM25, hybrid scores are RRF sums (k = 60) over the two lists
   * of `k` each.
   */
  async retrieve(query: string, options: RetrieveOptions): Promise<Candidate[]> {
    const { k, signal } = validateRetrieve(query, options);
    const snap = this.collection.snapshot();
    const lists: { rowid: number; score: number }[][] = [];
    if (this.first !== 'bm25') lists.push(await snap.denseHits(query, k, this.#params, signal));
    if (signal?.aborted) throw abortError(signal);
    if (this.first !== 'dense') lists.push(await snap.bm25Hits(query, k));
    const ranked =
      this.first === 'hybrid' ? reciprocalRankFusion(lists.map((l) => l.map((h) => h.rowid))).map((h) => ({ rowid: h.id, score: h.score })) : lists[0]!;
    const out: Candidate[] = [];
    const ids = new Set<string>();
    for (const h of ranked) {
      if (out.length >= k) break;
      const doc = snap.doc(h.rowid);
      if (!doc || ids.has(doc.id)) continue;
      ids.add(doc.id);
      out.push({ ...doc, score: h.score });
    }
    return out;
  }
}
