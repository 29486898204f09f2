/**
 * BM25 first stage: a native inverted index scored like Lucene/Anserini (BM25 with k1, b; English
 * analysis: UAX#29 words, possessives, lower case, Lucene's stop words, Porter stemming).
 * Documents are numbered 0, 1, … in the order they are added.
 */
import { availableParallelism } from 'node:os';
import { addon, type NativeBm25 } from '../native.js';
import { fromNative, invalidType, validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../errors.js';

export interface Bm25Options {
  /** Term-frequency saturation. Default 0.9 (Anserini's default). */
  k1?: number;
  /** Length normalisation. Default 0.4 (Anserini's default). */
  b?: number;
  /** 'porter' (Lucene's PorterStemFilter, default), 'english' (Porter2) or 'none'. */
  stemmer?: 'porter' | 'english' | 'none';
  /** Drop Lucene's English stop words. Default true. */
  stopwords?: boolean;
}

export interface Bm25Hits {
  docs: Uint32Array;
  scores: Float32Array;
}

function validateTexts(texts: unknown, name: string): asserts texts is string[] {
  if (!Array.isArray(texts)) throw invalidType(name, 'an array of strings', texts);
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw invalidType(`${name}[${i}]`, 'of type string', t);
  });
}

export class Bm25Index {
  readonly #native: NativeBm25;

  private constructor(native: NativeBm25) {
    this.#native = native;
  }

  static create(options: Bm25Options = {}): Bm25Index {
    validateObject(options as unknown, 'options');
    const k1 = options.k1 ?? 0.9;
    const b = options.b ?? 0.4;
    if (typeof k1 !== 'number' || !(k1 >= 0) || !Number.isFinite(k1)) throw invalidType('options.k1', 'a finite number >= 0', k1);
    if (typeof b !== 'number' || !(b >= 0 && b <= 1)) throw invalidType('options.b', 'a number in [0, 1]', b);
    const stemmer = options.stemmer ?? 'porter';
    validateOneOf(stemmer, 'options.stemmer', ['porter', 'english', 'none'] as const);
    const stopwords = options.stopwords ?? true;
    validateBoolean(stopwords, 'options.stopwords');
    return new Bm25Index(new addon.NativeBm25({ k1, b, stemmer, stopwords }));
  }

  static async load(path: string): Promise<Bm25Index> {
    validateString(path, 'path');
    try {
      return new Bm25Index(await addon.NativeBm25.load(path));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Documents ever added (deleted ones included: their numbers are not reused). */
  get size(): number {
    return this.#native.info().size;
  }
  /** Documents not deleted. */
  get live(): number {
    return this.#native.info().live;
  }
  get terms(): number {
    return this.#native.info().terms;
  }

  /** The terms the analyzer makes of `text` (what is indexed and searched). */
  analyze(text: string): string[] {
    validateString(text, 'text');
    return this.#native.analyze(text);
  }

  /** Index `texts` (analysed on `threads` threads); returns the number of the first one. */
  async add(texts: readonly string[], options: { threads?: number } = {}): Promise<number> {
    validateTexts(texts, 'texts');
    const threads = options.threads ?? availableParallelism();
    validateInteger(threads, 'options.threads', 1, 1024);
    try {
      return await this.#native.add(texts as string[], threads);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * Mark documents deleted: they are never returned again. Returns how many were removed (one
   * already deleted counts 0). A number never added (>= size) is ERR_OUT_OF_RANGE and one that is
   * not an integer in [0, 2^32 - 2] (−1, 1.5, 'x') a typed error, both before anything is removed.
   */
  remove(docs: readonly number[] | Uint32Array): number {
    let arr: Uint32Array;
    if (docs instanceof Uint32Array) {
      arr = docs;
    } else {
      if (!Array.isArray(docs)) throw invalidType('docs', 'an array of document numbers or a Uint32Array', docs);
      docs.forEach((d, i) => validateInteger(d, `docs[${i}]`, 0, 0xfffffffe));
      arr = Uint32Array.from(docs as number[]);
    }
    try {
      return this.#native.remove(arr);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * The best `k` documents for `query`, best first (ties: lower document number first).
   * `exhaustive: true` scores every posting of every query term instead of pruning with the
   * stored score bounds (MaxScore with block-max bounds); the results are the same.
   */
  async search(query: string, k: number, options: { exhaustive?: boolean } = {}): Promise<Bm25Hits> {
    validateString(query, 'query');
    validateObject(options as unknown, 'options');
    return (await this.searchBatch([query], k, { threads: 1, exhaustive: options.exhaustive }))[0]!;
  }

  /** Many queries at once, spread over `threads` native threads. */
  async searchBatch(queries: readonly string[], k: number, options: { threads?: number; exhaustive?: boolean } = {}): Promise<Bm25Hits[]> {
    validateTexts(queries, 'queries');
    validateInteger(k, 'k', 1, 1 << 24);
    validateObject(options as unknown, 'options');
    const threads = options.threads ?? availableParallelism();
    validateInteger(threads, 'options.threads', 1, 1024);
    const exhaustive = options.exhaustive ?? false;
    validateBoolean(exhaustive, 'options.exhaustive');
    try {
      return await this.#native.search(queries as string[], k, threads, exhaustive);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Write to `path` atomically (temporary file, fsync, rename). */
  async save(path: string): Promise<void> {
    validateString(path, 'path');
    try {
      await this.#native.save(path);
    } catch (e) {
      throw fromNative(e);
    }
  }
}
