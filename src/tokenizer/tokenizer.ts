import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  BatchError,
  CrossrankError,
  fromNative,
  invalidType,
  outOfRange,
  validateBoolean,
  validateInteger,
  validateObject,
  validateOneOf,
  validateString,
  type ItemFailure,
} from '../errors.js';
import { addon, type NativeBatch, type NativeEncodeOptions, type NativeTokenizer } from '../native.js';

export type TruncationStrategy = 'longest_first' | 'only_first' | 'only_second';
export const STRATEGIES: readonly TruncationStrategy[] = ['longest_first', 'only_first', 'only_second'];

/** Options of {@link Tokenizer.encode} and {@link Tokenizer.encodeBatch}. */
export interface EncodeOptions {
  /**
   * Longest output in tokens, special tokens included. When omitted, the `truncation` block of
   * tokenizer.json applies (as in Hugging Face tokenizers); when that is absent, nothing is cut.
   */
  maxLength?: number;
  /** How a pair is cut: Hugging Face's default `longest_first`, or `false` to never truncate. */
  truncation?: TruncationStrategy | false;
  /** Which end is cut. Default `right`. */
  direction?: 'right' | 'left';
  /** Tokens shared by consecutive overflowing windows. Default 0. */
  stride?: number;
  /**
   * Return what truncation cut off as overflowing windows of the same length overlapping by
   * `stride`, covering the whole text. Default: true for a single text, false for a pair (a pair
   * whose two sides are both cut gets every combination of their windows, as Hugging Face's;
   * past 4096 windows it is refused with `ERR_TOO_MANY_WINDOWS`).
   */
  returnOverflowing?: boolean;
  /** Add [CLS]/[SEP] and the like. Default true. */
  addSpecialTokens?: boolean;
  /** Also return token strings. Default false. */
  returnTokens?: boolean;
}

/** Options of {@link Tokenizer.encodeBatch}. */
export interface EncodeBatchOptions extends EncodeOptions {
  /** Native threads used for the batch. Default: the machine's available parallelism. */
  threads?: number;
}

/** One tokenized input (a text or a pair), as Hugging Face's Encoding. */
export interface Encoding {
  ids: Int32Array;
  typeIds: Int32Array;
  attentionMask: Int32Array;
  /** 1 where the post-processor added the token ([CLS], [SEP], ...). */
  specialTokensMask: Uint8Array;
  /** Which input a token came from: 0, 1, or -1 for added special tokens. */
  sequenceIds: Int8Array;
  /** [start, end) of each token in its input string, in UTF-16 code units (JS string indices). */
  offsets: Uint32Array;
  tokens?: (string | null)[];
  /** The parts cut off by truncation, as windows of the same length overlapping by `stride` (see `returnOverflowing`). */
  overflowing: Encoding[];
  /** True when truncation removed tokens. */
  truncated: boolean;
}

export type EncodeInput = string | readonly [string, string];

/**
 * A Hugging Face `tokenizer.json` tokenizer run natively (WordPiece, BPE, Unigram), giving the
 * same ids as Hugging Face's Rust implementation.
 */
export class Tokenizer {
  readonly #native: NativeTokenizer;
  /** Number of tokens, added tokens included. */
  readonly vocabSize: number;
  /** The truncation block of tokenizer.json, if any. */
  readonly truncation: { maxLength: number; strategy: TruncationStrategy; stride: number; direction: 'left' | 'right' } | null;
  /** Special tokens added around a single text and around a pair. */
  readonly specialTokens: { single: number; pair: number };
  readonly padId: number;

  private constructor(native: NativeTokenizer) {
    this.#native = native;
    const info = native.info();
    this.vocabSize = info.vocabSize;
    this.truncation = info.truncation;
    this.specialTokens = { single: info.addedSingle, pair: info.addedPair };
    this.padId = info.padId;
  }

  /** Load a `tokenizer.json` file. */
  static fromFile(path: string): Tokenizer {
    validateString(path, 'path');
    if (!existsSync(path)) throw new CrossrankError('ERR_FILE_NOT_FOUND', `tokenizer file not found: ${path}`);
    if (!statSync(path).isFile()) throw new CrossrankError('ERR_TOKENIZER_FILE', `tokenizer file is not a regular file: ${path}`);
    try {
      return new Tokenizer(new addon.NativeTokenizer(path));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Load `tokenizer.json` from a Hugging Face-layout model directory. */
  static fromDirectory(dir: string): Tokenizer {
    validateString(dir, 'dir');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new CrossrankError('ERR_FILE_NOT_FOUND', `model directory not found: ${dir}`);
    }
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new CrossrankError('ERR_FILE_NOT_FOUND', `no tokenizer.json in ${dir}`);
    return Tokenizer.fromFile(file);
  }

  /** Parse tokenizer.json text directly; `origin` names it in error messages. */
  static fromJSON(json: string, origin = '<json>'): Tokenizer {
    validateString(json, 'json');
    try {
      return new Tokenizer(new addon.NativeTokenizer(json, origin, true));
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The underlying native tokenizer, for other stages of this package (batching, inference). */
  get native(): NativeTokenizer {
    return this.#native;
  }

  /** Resolve user options into the flat native options (validating each). */
  resolveOptions(opts: EncodeBatchOptions | undefined, name = 'options', pairs = false): NativeEncodeOptions {
    if (opts !== undefined) validateObject(opts, name);
    const o = opts ?? {};
    const out: NativeEncodeOptions = {
      truncate: false,
      maxLength: 0,
      strategy: 'longest_first',
      stride: 0,
      direction: 'right',
      addSpecialTokens: true,
      returnTokens: false,
      threads: 1,
    };
    if (o.addSpecialTokens !== undefined) validateBoolean(o.addSpecialTokens, `${name}.addSpecialTokens`);
    if (o.returnTokens !== undefined) validateBoolean(o.returnTokens, `${name}.returnTokens`);
    if (o.returnOverflowing !== undefined) validateBoolean(o.returnOverflowing, `${name}.returnOverflowing`);
    out.overflow = o.returnOverflowing ?? !pairs;
    out.addSpecialTokens = o.addSpecialTokens ?? true;
    out.returnTokens = o.returnTokens ?? false;
    if (o.truncation !== undefined && o.truncation !== false) validateOneOf(o.truncation, `${name}.truncation`, STRATEGIES);
    if (o.direction !== undefined) validateOneOf(o.direction, `${name}.direction`, ['right', 'left'] as const);
    if (o.maxLength !== undefined) validateInteger(o.maxLength, `${name}.maxLength`, 1);
    if (o.stride !== undefined) validateInteger(o.stride, `${name}.stride`, 0);
    if (o.threads !== undefined) validateInteger(o.threads, `${name}.threads`, 1, 1024);
    const defaults = this.truncation;
    if (o.truncation !== false && (o.maxLength !== undefined || defaults)) {
      out.truncate = true;
      out.maxLength = o.maxLength ?? defaults!.maxLength;
      out.strategy = o.truncation || (o.maxLength === undefined && defaults ? defaults.strategy : 'longest_first');
      out.stride = o.stride ?? (o.maxLength === undefined && defaults ? defaults.stride : 0);
      out.direction = o.direction ?? (o.maxLength === undefined && defaults ? defaults.direction : 'right');
      // Values from tokenizer.json are checked here too, with the file named as their source.
      const from = (key: 'maxLength' | 'stride') => (o[key] === undefined ? `truncation.${key === 'maxLength' ? 'max_length' : key} of tokenizer.json` : `${name}.${key}`);
      if (out.maxLength < 1) throw outOfRange(from('maxLength'), 'an integer >= 1', out.maxLength);
      const specials = out.addSpecialTokens ? this.specialTokens.pair : 0;
      if (out.stride > 0 && out.stride >= out.maxLength - specials) {
        throw outOfRange(from('stride'), `less than maxLength minus the special tokens (${out.maxLength - specials})`, out.stride);
      }
    }
    out.threads = o.threads ?? availableParallelism();
    return out;
  }

  /** Encode one text, or a (text, pair) such as (query, document). Synchronous. */
  encode(text: string, pair?: string | null, options?: EncodeOptions): Encoding {
    validateString(text, 'text');
    if (pair !== undefined && pair !== null) validateString(pair, 'pair');
    const opts = this.resolveOptions(options, 'options', pair !== undefined && pair !== null);
    opts.threads = 1;
    let batch: NativeBatch;
    try {
      batch = this.#native.encodeBatch([text], pair == null ? null : [pair], opts);
    } catch (e) {
      throw fromNative(e);
    }
    const err = batch.errors[0];
    if (err) throw new CrossrankError(err.code, err.message);
    return unpack(batch, opts)[0]!;
  }

  /**
   * Encode many texts and/or pairs in one native call, spread over native threads off the event
   * loop. Items that fail (for example a pair too short for `only_first` truncation) are reported
   * per item in a {@link BatchError} whose `results` still holds every other encoding.
   */
  async encodeBatch(inputs: readonly EncodeInput[], options?: EncodeBatchOptions): Promise<Encoding[]> {
    if (!Array.isArray(inputs)) throw invalidType('inputs', 'an array of strings or [string, string] pairs', inputs);
    const singles: number[] = [];
    const pairs: number[] = [];
    inputs.forEach((item, i) => {
      if (typeof item === 'string') singles.push(i);
      else if (Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && typeof item[1] === 'string') pairs.push(i);
      else throw invalidType(`inputs[${i}]`, 'a string or a [string, string] pair', item);
    });
    const singleOpts = this.resolveOptions(options);
    const pairOpts = this.resolveOptions(options, 'options', true);
    const results: (Encoding | null)[] = new Array(inputs.length).fill(null);
    const failures: ItemFailure[] = [];
    const run = async (idx: number[], withPairs: boolean) => {
      if (idx.length === 0) return;
      const a = idx.map((i) => (withPairs ? (inputs[i] as readonly [string, string])[0] : (inputs[i] as string)));
      const b = withPairs ? idx.map((i) => (inputs[i] as readonly [string, string])[1]) : null;
      const opts = withPairs ? pairOpts : singleOpts;
      let batch: NativeBatch;
      try {
        batch = await this.#native.encodeBatchAsync(a, b, opts);
      } catch (e) {
        throw fromNative(e);
      }
      const encs = unpack(batch, opts);
      idx.forEach((orig, k) => {
        const err = batch.errors[k];
        if (err) failures.push({ index: orig, code: err.code, message: err.message });
        else results[orig] = encs[k]!;
      });
    };
    await Promise.all([run(singles, false), run(pairs, true)]);
    if (failures.length > 0) {
      failures.sort((x, y) => x.index - y.index);
      throw new BatchError<Encoding>(failures, results);
    }
    return results as Encoding[];
  }

  /** Ids back to text. Special tokens are skipped unless `skipSpecialTokens` is false. */
  decode(ids: ArrayLike<number>, skipSpecialTokens = true): string {
    if (ids === null || typeof ids !== 'object' || typeof (ids as ArrayLike<number>).length !== 'number') {
      throw invalidType('ids', 'an array or typed array of token ids', ids);
    }
    validateBoolean(skipSpecialTokens, 'skipSpecialTokens');
    const arr = ids instanceof Int32Array ? ids : Int32Array.from(ids as ArrayLike<number>);
    return this.#native.decode(arr, skipSpecialTokens);
  }

  /** The id of a token string, or undefined. */
  tokenToId(token: string): number | undefined {
    validateString(token, 'token');
    return this.#native.tokenToId(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    validateInteger(id, 'id', 0, 0x7fffffff);
    return this.#native.idToToken(id);
  }
}

/** Split a flat native batch into one Encoding per input (overflowing parts attached). */
function unpack(b: NativeBatch, opts: NativeEncodeOptions): Encoding[] {
  const n = b.overflowCount.length;
  const starts = new Array<number>(b.lengths.length + 1);
  starts[0] = 0;
  for (let r = 0; r < b.lengths.length; r++) starts[r + 1] = starts[r]! + b.lengths[r]!;
  const row = (r: number): Encoding => {
    const a = starts[r]!;
    const e = starts[r + 1]!;
    const mask = new Int32Array(e - a).fill(1);
    return {
      ids: b.ids.subarray(a, e),
      typeIds: b.typeIds.subarray(a, e),
      attentionMask: mask,
      specialTokensMask: b.specialMask.subarray(a, e),
      sequenceIds: b.sequenceIds.subarray(a, e),
      offsets: b.offsets.subarray(2 * a, 2 * e),
      ...(opts.returnTokens && b.tokens ? { tokens: b.tokens.slice(a, e) } : {}),
      overflowing: [],
      truncated: false,
    };
  };
  const out: Encoding[] = [];
  let next = n;
  for (let i = 0; i < n; i++) {
    const main = row(i);
    const k = b.overflowCount[i]!;
    for (let j = 0; j < k; j++) main.overflowing.push(row(next++));
    main.truncated = b.truncated[i] === 1;
    out.push(main);
  }
  return out;
}
