/**
 * Any first stage as a function: Elasticsearch, OpenSearch, Qdrant, an HTTP service, … The
 * function's answer is checked item by item, so a bad hit is reported, never passed on or dropped.
 */
import { invalidType } from '../errors.js';
import { badResult, checkCandidates, raceAbort, validateRetrieve } from './common.js';
import type { Candidate, RetrieveOptions, Retriever } from './types.js';

/** Returns at most `k` hits for `query`, best first. `signal` is the caller's, to pass on to a client. */
export type RetrieveFunction = (query: string, k: number, signal: AbortSignal | undefined) => Promise<readonly unknown[]> | readonly unknown[];

export class FunctionRetriever implements Retriever {
  readonly #fn: RetrieveFunction;
  /** Names the source in error messages. */
  readonly name: string;

  constructor(fn: RetrieveFunction, options: { name?: string } = {}) {
    if (typeof fn !== 'function') throw invalidType('fn', 'a function (query, k, signal) => hits', fn);
    if (options.name !== undefined && typeof options.name !== 'string') throw invalidType('options.name', 'of type string', options.name);
    this.#fn = fn;
    this.name = options.name ?? (fn.name || 'retrieve function');
  }

  /**
   * Call the function and check what it returned: an array of at most `k` objects with a unique
   * non-empty string `id`, a string `text`, a finite number `score` and optional object `metadata`.
   * Bad items fail with a BatchError listing each (codes ERR_CANDIDATE_*; `results` holds the good
   * ones); a non-array or too many hits fail with ERR_RETRIEVER_RESULT. Aborting `signal` rejects at
   * once with an AbortError, whether or not the function listens to it.
   */
  async retrieve(query: string, options: RetrieveOptions): Promise<Candidate[]> {
    const { k, signal } = validateRetrieve(query, options);
    const hits: unknown = await raceAbort(Promise.resolve().then(() => this.#fn(query, k, signal)), signal);
    if (!Array.isArray(hits)) throw badResult(this.name, 'an array of hits', hits);
    if (hits.length > k) throw badResult(this.name, `at most k = ${k} hits`, hits);
    return checkCandidates(hits, this.name);
  }
}

/** Shorthand for `new FunctionRetriever(fn, options)`. */
export function functionRetriever(fn: RetrieveFunction, options: { name?: string } = {}): FunctionRetriever {
  return new FunctionRetriever(fn, options);
}
