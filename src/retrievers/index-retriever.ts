/**
 * A bare FaissIndex and/or Bm25Index as a first stage: the indexes give numbers, a lookup you
 * supply turns them into documents. Both together are fused with reciprocal-rank fusion by
 * document id.
 */
import { CrossrankError, invalidType, validateInteger, validateObject, validateOneOf } from '../errors.js';
import { Bm25Index } from '../index/bm25.js';
import { FaissIndex, type SearchParams } from '../index/faiss-index.js';
import { reciprocalRankFusion } from '../index/fusion.js';
import { abortError } from '../inference/scorer.js';
import { badResult, checkCandidates, validateFusion, validateRetrieve } from './common.js';
import type { Candidate, Embedder, RetrieveOptions, Retriever } from './types.js';

/** What a lookup returns for one index number. */
export interface IndexDoc {
  id: string;
  text: string;
  metadata?: Record<string, unknown>;
}

/**
 * Index number → document: a Map, an array (position = number), or a function of the numbers of one
 * search (sync or async; return `undefined` for a number it does not know).
 */
export type DocLookup =
  | ReadonlyMap<number, IndexDoc>
  | readonly (IndexDoc | undefined)[]
  | ((keys: number[]) => readonly (IndexDoc | undefined)[] | Promise<readonly (IndexDoc | undefined)[]>);

export interface IndexRetrieverOptions {
  /** Dense search: FAISS ids are the lookup's numbers. */
  dense?: { index: FaissIndex; embedder: Embedder; docs: DocLookup; params?: SearchParams };
  /** BM25 search: document numbers (from Bm25Index.add) are the lookup's numbers. */
  bm25?: { index: Bm25Index; docs: DocLookup };
  /** Default: 'hybrid' when both are given, else the one given. */
  mode?: 'dense' | 'bm25' | 'hybrid';
  /** Hybrid: hits taken from each side before fusion, at least k. Default 2k. */
  depth?: number;
  /** Hybrid: the RRF constant (score = Σ 1 / (rrfK + rank)). Default 60. */
  rrfK?: number;
}

interface Ranked {
  keys: number[];
  scores: number[];
}

export class IndexRetriever implements Retriever {
  readonly #dense: IndexRetrieverOptions['dense'];
  readonly #bm25: IndexRetrieverOptions['bm25'];
  readonly mode: 'dense' | 'bm25' | 'hybrid';
  readonly #depth: number | undefined;
  readonly #rrfK: number;

  constructor(options: IndexRetrieverOptions) {
    validateObject(options as unknown, 'options');
    const { dense, bm25 } = options;
    if (dense !== undefined) {
      validateObject(dense, 'options.dense');
      if (!(dense.index instanceof FaissIndex)) throw invalidType('options.dense.index', 'a FaissIndex', dense.index);
      if (!dense.embedder || typeof dense.embedder.embed !== 'function') throw invalidType('options.dense.embedder', 'an object with embed(texts) (a BiEncoder)', dense.embedder);
      validateLookup(dense.docs, 'options.dense.docs');
      if (dense.params !== undefined) validateObject(dense.params, 'options.dense.params');
    }
    if (bm25 !== undefined) {
      validateObject(bm25, 'options.bm25');
      if (!(bm25.index instanceof Bm25Index)) throw invalidType('options.bm25.index', 'a Bm25Index', bm25.index);
      validateLookup(bm25.docs, 'options.bm25.docs');
    }
    if (!dense && !bm25) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'an IndexRetriever needs options.dense, options.bm25 or both');
    const mode = options.mode ?? (dense && bm25 ? 'hybrid' : dense ? 'dense' : 'bm25');
    validateOneOf(mode, 'options.mode', ['dense', 'bm25', 'hybrid'] as const);
    if (mode !== 'bm25' && !dense) throw new CrossrankError('ERR_NO_DENSE_INDEX', `options.mode '${mode}' needs options.dense`);
    if (mode !== 'dense' && !bm25) throw new CrossrankError('ERR_NO_BM25_INDEX', `options.mode '${mode}' needs options.bm25`);
    const { depth, rrfK } = validateFusion(options);
    this.#dense = dense;
    this.#bm25 = bm25;
    this.mode = mode;
    this.#depth = depth;
    this.#rrfK = rrfK;
  }

  /**
   * The best `k` documents. Dense scores are inner products (or negated L2 distances), BM25 scores
   * are BM25, hybrid scores are RRF sums. A number the lookup cannot resolve fails the call with a
   * BatchError (ERR_DOC_NOT_FOUND for that item).
   */
  async retrieve(query: string, options: RetrieveOptions): Promise<Candidate[]> {
    const { k, signal } = validateRetrieve(query, options);
    if (this.mode === 'dense') return this.#candidates(this.#dense!.docs, await this.#searchDense(query, k, signal), 'dense');
    if (this.mode === 'bm25') return this.#candidates(this.#bm25!.docs, await this.#searchBm25(query, k), 'bm25');
    const depth = Math.max(k, this.#depth ?? 2 * k);
    const [d, b] = await Promise.all([this.#searchDense(query, depth, signal), this.#searchBm25(query, depth)]);
    const [dc, bc] = await Promise.all([this.#candidates(this.#dense!.docs, d, 'dense'), this.#candidates(this.#bm25!.docs, b, 'bm25')]);
    if (signal?.aborted) throw abortError(signal);
    const byId = new Map<string, Candidate>();
    for (const c of [...dc, ...bc]) if (!byId.has(c.id)) byId.set(c.id, c);
    const fused = reciprocalRankFusion([dc.map((c) => c.id), bc.map((c) => c.id)], { k: this.#rrfK });
    return fused.slice(0, k).map((f) => ({ ...byId.get(f.id)!, score: f.score }));
  }

  async #searchDense(query: string, k: number, signal: AbortSignal | undefined): Promise<Ranked> {
    const { index, embedder, params } = this.#dense!;
    const q = await embedder.embed([query], signal ? { signal } : {});
    if (!(q instanceof Float32Array)) throw badResult('options.dense.embedder.embed', 'a Float32Array', q);
    if (signal?.aborted) throw abortError(signal);
    const r = await index.search(q, Math.min(k, Math.max(1, index.ntotal)), params ?? {});
    const keys: number[] = [];
    const scores: number[] = [];
    const sign = index.metric === 'l2' ? -1 : 1;
    for (let i = 0; i < r.k; i++) {
      const id = r.ids[i]!;
      if (id < 0n) continue;  // fewer stored vectors than k
      keys.push(Number(id));
      scores.push(sign * r.scores[i]!);
    }
    return { keys, scores };
  }

  async #searchBm25(query: string, k: number): Promise<Ranked> {
    const r = await this.#bm25!.index.search(query, k);
    return { keys: Array.from(r.docs), scores: Array.from(r.scores) };
  }

  async #candidates(lookup: DocLookup, ranked: Ranked, side: string): Promise<Candidate[]> {
    const docs = await resolve(lookup, ranked.keys);
    const name = `options.${side}.docs`;
    if (!Array.isArray(docs) || docs.length !== ranked.keys.length) throw badResult(name, `one entry per number asked (${ranked.keys.length})`, docs);
    return checkCandidates(docs, name, {
      scores: ranked.scores,
      missing: (i) => `${name} has no document for ${side} index number ${ranked.keys[i]}`,
    });
  }
}

function validateLookup(v: unknown, name: string): void {
  if (!(v instanceof Map) && !Array.isArray(v) && typeof v !== 'function') throw invalidType(name, 'a Map, an array or a function of index numbers', v);
}

async function resolve(lookup: DocLookup, keys: number[]): Promise<readonly (IndexDoc | undefined)[]> {
  if (typeof lookup === 'function') return lookup(keys);
  if (lookup instanceof Map) return keys.map((key) => lookup.get(key));
  const arr = lookup as readonly (IndexDoc | undefined)[];
  return keys.map((key) => arr[key]);
}
