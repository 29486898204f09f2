/**
 * FAISS vector index (FAISS 1.15 built from its release source with runtime SIMD dispatch, linked
 * statically into the addon; Debian's 1.7.3 with CROSSRANK_FAISS_SYSTEM=ON): any index_factory description,
 * 64-bit ids, search-time nprobe / efSearch, removal where the index type supports it, and atomic
 * save. Train, add, search, save and load run off the event loop.
 */
import { addon, type NativeVectorIndex } from '../native.js';
import { CrossrankError, fromNative, invalidType, outOfRange, validateInteger, validateObject, validateOneOf, validateString } from '../errors.js';

export type Metric = 'ip' | 'l2';

export interface SearchParams {
  /** IVF lists to visit (IVF indexes). */
  nprobe?: number;
  /** HNSW search beam width (HNSW indexes, and IVF indexes whose coarse quantizer is HNSW). */
  efSearch?: number;
  /**
   * Refined indexes (`…,RFlat`, `…,Refine(SQ8)`): candidates fetched from the base index per
   * result, re-ranked with the refine index's distances. 1 to 4096.
   */
  kFactor?: number;
}

/** Which FAISS the addon runs and which SIMD kernels it dispatches to. */
export interface FaissInfo {
  /** FAISS version, e.g. '1.15.0'. */
  version: string;
  /** Kernels in use: 'NONE' (generic), 'AVX2', 'AVX512', 'AVX512_SPR', 'ARM_NEON', 'ARM_SVE'. */
  simdLevel: string;
  /** One library with kernels chosen by CPUID at load (FAISS_OPT_LEVEL=dd). */
  dynamicDispatch: boolean;
  /** Levels this process may run (FAISS_SIMD_LEVEL in the environment picks one at load). */
  availableLevels: string[];
}

/** The FAISS build in this addon and the SIMD level it runs at. */
export function faissInfo(): FaissInfo {
  return addon.NativeVectorIndex.faissInfo();
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

/** Caller's ids as int64: a BigInt64Array as is, or an array of non-negative safe integers. */
function idsOf(ids: unknown): BigInt64Array {
  if (ids instanceof BigInt64Array) return ids;
  if (!Array.isArray(ids)) throw invalidType('ids', 'a BigInt64Array or an array of integers', ids);
  const out = new BigInt64Array(ids.length);
  ids.forEach((x: unknown, i) => {
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
      idArr = idsOf(ids);
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
      return await this.#native.search(q, k, params.nprobe ?? 0, params.efSearch ?? 0, params.kFactor ?? 0);
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
      return this.#native.searchSync(q, k, params.nprobe ?? 0, params.efSearch ?? 0, params.kFactor ?? 0);
    } catch (e) {
      throw fromNative(e);
    }
  }

  #params(params: SearchParams): void {
    validateObject(params as unknown, 'params');
    if (params.nprobe !== undefined) validateInteger(params.nprobe, 'params.nprobe', 1, 1 << 30);
    if (params.efSearch !== undefined) validateInteger(params.efSearch, 'params.efSearch', 1, 1 << 20);
    if (params.kFactor !== undefined) {
      if (typeof params.kFactor !== 'number') throw invalidType('params.kFactor', 'of type number', params.kFactor);
      if (!(params.kFactor >= 1 && params.kFactor <= 4096)) throw outOfRange('params.kFactor', 'a number >= 1 and <= 4096', params.kFactor);
    }
  }

  /** Remove vectors by id; returns how many were removed. ERR_INDEX_UNSUPPORTED for HNSW and the like. */
  remove(ids: BigInt64Array | readonly number[]): number {
    const arr = idsOf(ids);
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
