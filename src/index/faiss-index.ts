/**
 * FAISS vector index (Debian's libfaiss linked into the addon): any index_factory description,
 * 64-bit ids, search-time nprobe / efSearch, removal where the index type supports it, and atomic
 * save. Train, add, search, save and load run off the event loop.
 */
import { addon, type NativeVectorIndex } from '../native.js';
import { CrossrankError, fromNative, invalidType, validateInteger, validateObject, validateOneOf, validateString } from '../errors.js';

export type Metric = 'ip' | 'l2';

export interface SearchParams {
  /** IVF lists to visit (IVF indexes). */
  nprobe?: number;
  /** HNSW search beam width (HNSW indexes). */
  efSearch?: number;
}

/** Results of `nq` queries, `k` per query, row-major; missing results have id -1. */
export interface SearchResult {
  ids: BigInt64Array;
  /** Inner products ('ip', larger is closer) or squared distances ('l2', smaller is closer). */
  scores: Float32Array;
  nq: number;
  k: number;
}

function dimensionError(name: string, dim: number, len: number): CrossrankError {
  return new CrossrankError(
    'ERR_DIMENSION_MISMATCH',
    `"${name}" holds ${len} floats, which is not a whole number of ${dim}-dimensional vectors`,
  );
}

/** Ids as FAISS takes them: a BigInt64Array as is, or an array of non-negative integers. */
function toIds(ids: unknown): BigInt64Array {
  if (ids instanceof BigInt64Array) return ids;
  if (!Array.isArray(ids)) throw invalidType('ids', 'a BigInt64Array or an array of integers', ids);
  const out = new BigInt64Array(ids.length);
  ids.forEach((x, i) => {
    validateInteger(x, `ids[${i}]`, 0);
    out[i] = BigInt(x);
  });
  return out;
}

export class FaissIndex {
  readonly #native: NativeVectorIndex;
  /** Vector width (fixed for the index's life). */
  readonly dim: number;

  private constructor(native: NativeVectorIndex) {
    this.#native = native;
    this.dim = native.info().dim;
  }

  /**
   * Build an empty index. `factory` is any FAISS index_factory string ('Flat', 'HNSW32',
   * 'IVF4096,PQ48', 'OPQ16,IVF256,PQ16', …). Throws ERR_INDEX_FACTORY when FAISS rejects it.
   */
  static create(dim: number, factory = 'Flat', options: { metric?: Metric } = {}): FaissIndex {
    validateInteger(dim, 'dim', 1, 1 << 16);
    validateString(factory, 'factory');
    validateObject(options as unknown, 'options');
    const metric = options.metric ?? 'ip';
    validateOneOf(metric, 'options.metric', ['ip', 'l2'] as const);
    try {
      return new FaissIndex(new addon.NativeVectorIndex(dim, factory, metric));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Read an index written by {@link FaissIndex.save} (or by FAISS's write_index). */
  static async load(path: string): Promise<FaissIndex> {
    validateString(path, 'path');
    try {
      return new FaissIndex(await addon.NativeVectorIndex.load(path));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Vectors stored. */
  get ntotal(): number {
    return this.#native.info().ntotal;
  }
  get isTrained(): boolean {
    return this.#native.info().isTrained;
  }
  /** Inverted lists of an IVF index (its coarse clusters); 0 for other index kinds. */
  get nlist(): number {
    return this.#native.info().nlist;
  }
  get metric(): Metric {
    return this.#native.info().metric;
  }

  #vectors(v: unknown, name: string): Float32Array {
    if (!(v instanceof Float32Array)) throw invalidType(name, 'a Float32Array (row-major, n × dim)', v);
    const dim = this.dim;
    if (v.length % dim !== 0) throw dimensionError(name, dim, v.length);
    return v;
  }

  /** Train (IVF, PQ, …) on representative vectors. Flat and HNSW need no training. */
  async train(vectors: Float32Array): Promise<void> {
    const v = this.#vectors(vectors, 'vectors');
    try {
      await this.#native.train(v);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Add vectors with their ids (default: continuing after the largest id so far). */
  async add(vectors: Float32Array, ids?: BigInt64Array | readonly number[]): Promise<void> {
    const v = this.#vectors(vectors, 'vectors');
    const n = v.length / this.dim;
    let idArr: BigInt64Array | null = null;
    if (ids !== undefined) {
      idArr = toIds(ids);
      if (idArr.length !== n) {
        throw new CrossrankError('ERR_DIMENSION_MISMATCH', `"ids" has ${idArr.length} entries for ${n} vectors`);
      }
    }
    try {
      await this.#native.add(v, idArr);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The `k` nearest stored vectors of each query. */
  async search(queries: Float32Array, k: number, params: SearchParams = {}): Promise<SearchResult> {
    const q = this.#vectors(queries, 'queries');
    validateInteger(k, 'k', 1, 1 << 20);
    this.#params(params);
    try {
      return await this.#native.search(q, k, params.nprobe ?? 0, params.efSearch ?? 0);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * The same search on the calling thread. It blocks the event loop for the search's duration, so
   * use it only for single queries on indexes that answer in well under a millisecond (HNSW, IVF
   * with small nprobe), where the hop to the thread pool would cost as much as the search.
   */
  searchSync(queries: Float32Array, k: number, params: SearchParams = {}): SearchResult {
    const q = this.#vectors(queries, 'queries');
    validateInteger(k, 'k', 1, 1 << 20);
    this.#params(params);
    try {
      return this.#native.searchSync(q, k, params.nprobe ?? 0, params.efSearch ?? 0);
    } catch (e) {
      throw fromNative(e);
    }
  }

  #params(params: SearchParams): void {
    validateObject(params as unknown, 'params');
    if (params.nprobe !== undefined) validateInteger(params.nprobe, 'params.nprobe', 1);
    if (params.efSearch !== undefined) validateInteger(params.efSearch, 'params.efSearch', 1);
  }

  /** Remove vectors by id; returns how many were removed. ERR_INDEX_UNSUPPORTED for HNSW and the like. */
  remove(ids: BigInt64Array | readonly number[]): number {
    const arr = toIds(ids);
    try {
      return this.#native.remove(arr);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Write to `path` atomically: a temporary file, fsync, then rename over `path`. */
  async save(path: string): Promise<void> {
    validateString(path, 'path');
    try {
      await this.#native.save(path);
    } catch (e) {
      throw fromNative(e);
    }
  }
}
