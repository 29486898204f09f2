/**
 * LRU cache of cross-encoder scores with in-flight de-duplication: two concurrent requests for the
 * same (model, options, query, document) run the model once.
 */
import { createHash } from 'node:crypto';

/** What is kept per pair: the raw logits and which window of the document won. */
export interface CachedPair {
  logits: Float32Array;
  chunk: number;
  chunks: number;
  spanStart: number;
  spanEnd: number;
  truncated: boolean;
}

export interface ScoreCacheStats {
  size: number;
  maxEntries: number;
  hits: number;
  misses: number;
  /** Pairs served by waiting on another request that was already computing them. */
  inflightHits: number;
}

interface Deferred {
  promise: Promise<CachedPair>;
  resolve(v: CachedPair): void;
  reject(e: unknown): void;
}

export class ScoreCache {
  readonly #entries = new Map<string, CachedPair>();
  readonly #pending = new Map<string, Deferred>();
  readonly maxEntries: number;
  hits = 0;
  misses = 0;
  inflightHits = 0;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  /** A key for one pair; `scope` identifies the model file and every option that changes scores. */
  static key(scope: string, query: string, doc: string): string {
    return createHash('sha256').update(scope).update('\u0000').update(query).update('\u0000').update(doc).digest('base64url');
  }

  get(key: string): CachedPair | undefined {
    const v = this.#entries.get(key);
    if (v) {
      this.#entries.delete(key);  // move to most recently used
      this.#entries.set(key, v);
    }
    return v;
  }

  set(key: string, v: CachedPair): void {
    this.#entries.delete(key);
    this.#entries.set(key, v);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  pending(key: string): Promise<CachedPair> | undefined {
    return this.#pending.get(key)?.promise;
  }

  /** Mark `key` as being computed by the caller, who must later call settle(). */
  claim(key: string): void {
    let resolve!: (v: CachedPair) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<CachedPair>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});  // a claim nobody waits on must not become an unhandled rejection
    this.#pending.set(key, { promise, resolve, reject });
  }

  /** Finish a claim: store and hand the value to waiters, or pass them the error. */
  settle(key: string, value: CachedPair | undefined, error?: unknown): void {
    const d = this.#pending.get(key);
    this.#pending.delete(key);
    if (value) {
      this.set(key, value);
      d?.resolve(value);
    } else {
      d?.reject(error);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  stats(): ScoreCacheStats {
    return { size: this.#entries.size, maxEntries: this.maxEntries, hits: this.hits, misses: this.misses, inflightHits: this.inflightHits };
  }
}
