/**
 * The only module that loads the compiled addon; it types the addon's surface. Everything else
 * imports from here.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { CrossrankError } from './errors.js';

process.env.ORT_DISABLE_TELEMETRY ??= '1';

export interface NativeEncodeOptions {
  truncate: boolean;
  maxLength: number;
  strategy: 'longest_first' | 'only_first' | 'only_second';
  stride: number;
  direction: 'right' | 'left';
  addSpecialTokens: boolean;
  returnTokens: boolean;
  threads: number;
  /** Build the overflowing windows (otherwise what truncation cuts is dropped). Default false. */
  overflow?: boolean;
}

/** Flat batch result: rows are every main encoding, then the overflowing ones in order. */
export interface NativeBatch {
  ids: Int32Array;
  typeIds: Int32Array;
  specialMask: Uint8Array;
  sequenceIds: Int8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  overflowCount: Uint32Array;
  /** 1 where truncation dropped tokens (whether or not windows were built). */
  truncated: Uint8Array;
  errors: ({ code: string; message: string } | null)[];
  tokens?: (string | null)[];
}

export interface NativeTokenizerInfo {
  vocabSize: number;
  addedSingle: number;
  addedPair: number;
  padId: number;
  truncation: { maxLength: number; strategy: NativeEncodeOptions['strategy']; stride: number; direction: 'left' | 'right' } | null;
}

export interface NativeTokenizer {
  encodeBatch(texts: string[], pairs: string[] | null, opts: NativeEncodeOptions): NativeBatch;
  encodeBatchAsync(texts: string[], pairs: string[] | null, opts: NativeEncodeOptions): Promise<NativeBatch>;
  decode(ids: Int32Array, skipSpecialTokens: boolean): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  info(): NativeTokenizerInfo;
}

export interface NativeSessionConfig {
  intraThreads: number;
  interThreads: number;
  device: 'cpu' | 'cuda' | 'auto';
  deviceId: number;
  optimize: boolean;
  spinning: boolean;
}

export interface NativeSessionInfo {
  provider: 'cpu' | 'cuda';
  path: string;
  key: string;
  id: number;
  inputs: string[];
  outputs: { name: string; shape: number[] }[];
}

export interface NativeScoreOptions extends NativeEncodeOptions {
  chunk: boolean;
  maxChunks: number;
  tokenBudget: number;
  maxRows: number;
  window: number;
  label: number;
  output: string;
}

export interface NativeScoreResult {
  labels: number;
  /** pairs × labels raw logits; NaN rows for pairs that failed. */
  logits: Float32Array;
  bestChunk: Uint32Array;
  chunks: Uint32Array;
  spanStart: Uint32Array;
  spanEnd: Uint32Array;
  truncated: Uint8Array;
  errors: ({ code: string; message: string } | null)[];
  stats: { truncated: number; batches: number; rows: number; realTokens: number; paddedTokens: number };
}

/** A handle on a process-wide shared ONNX Runtime session (one copy of the weights per process). */
export interface NativeSession {
  /** Async (libuv pool). `cancel[0] = 1` (Atomics.store) aborts between micro-batches. */
  scoreAsync(
    tokenizer: NativeTokenizer,
    queries: string[],
    docs: string[],
    pairQuery: Uint32Array | null,
    opts: NativeScoreOptions,
    cancel: Int32Array | null,
  ): Promise<NativeScoreResult>;
  /** Async (libuv pool): pooled, optionally normalized vectors, texts × dim. */
  embedAsync(
    tokenizer: NativeTokenizer,
    texts: string[],
    opts: NativeEncodeOptions & { tokenBudget: number; maxRows: number; pooling: 'mean' | 'cls' | 'max' | 'none'; normalize: boolean; output: string },
    cancel: Int32Array | null,
  ): Promise<{ dim: number; vectors: Float32Array; truncated: Uint8Array; errors: ({ code: string; message: string } | null)[] }>;
  info(): NativeSessionInfo;
  /** Throws ERR_BUSY while runs are in flight. */
  dispose(): void;
  readonly inFlight: number;
}

export interface NativeVectorIndex {
  train(vectors: Float32Array): Promise<void>;
  add(vectors: Float32Array, ids: BigInt64Array | null): Promise<void>;
  /** nprobe / efSearch / kFactor: 0 keeps the index's own setting. */
  search(queries: Float32Array, k: number, nprobe: number, efSearch: number, kFactor: number): Promise<{ ids: BigInt64Array; scores: Float32Array; nq: number; k: number }>;
  searchSync(queries: Float32Array, k: number, nprobe: number, efSearch: number, kFactor: number): { ids: BigInt64Array; scores: Float32Array; nq: number; k: number };
  remove(ids: BigInt64Array): number;
  save(path: string): Promise<void>;
  info(): { dim: number; ntotal: number; isTrained: boolean; nlist: number; metric: 'ip' | 'l2'; description: string };
}

export interface NativeBm25 {
  add(texts: string[], threads: number): Promise<number>;
  search(queries: string[], k: number, threads: number, exhaustive?: boolean): Promise<{ docs: Uint32Array; scores: Float32Array }[]>;
  remove(docs: Uint32Array): number;
  analyze(text: string): string[];
  save(path: string): Promise<void>;
  info(): { size: number; live: number; terms: number; k1: number; b: number; stemmer: string; stopwords: boolean };
}

export interface Addon {
  NativeTokenizer: new (pathOrJson: string, origin?: string, isJson?: boolean) => NativeTokenizer;
  NativeSession: {
    new (path: string, config: NativeSessionConfig): NativeSession;
    /** Distinct sessions alive in this process (all threads). */
    liveSessions(): number;
  };
  NativeVectorIndex: {
    new (dim: number, factory: string, metric: 'ip' | 'l2'): NativeVectorIndex;
    load(path: string): Promise<NativeVectorIndex>;
    faissInfo(): { version: string; simdLevel: string; dynamicDispatch: boolean; availableLevels: string[] };
  };
  NativeBm25: {
    new (opts: { k1: number; b: number; stemmer: string; stopwords: boolean }): NativeBm25;
    load(path: string): Promise<NativeBm25>;
  };
  /** Tells running native jobs that the process is exiting (they stop at their next step). */
  beginExit(): void;
}

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where the addon is: CROSSRANK_ADDON when set, else node-gyp-build's order — a source build in
 * build/Release or build/Debug (a checkout, or an install that fell back to compiling), then the
 * prebuild in prebuilds/<platform>-<arch>/ that matches this Node-API runtime and libc.
 */
function findAddon(): string {
  if (process.env.CROSSRANK_ADDON) return resolve(process.env.CROSSRANK_ADDON);
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  try {
    return nodeGypBuild.path(root);
  } catch (err) {
    throw new CrossrankError(
      'ERR_ADDON_NOT_BUILT',
      `crossrank has no prebuilt addon for ${process.platform}-${process.arch} and no source build in ${join(root, 'build')}; ` +
        'reinstall with "npm install crossrank --build-from-source" (the README\'s "Packaging and install from source" ' +
        'section lists the system libraries it needs) or, in a checkout, run "npm run build:native"',
      { cause: err },
    );
  }
}

/**
 * The addon links to the libonnxruntime.so.1 that onnxruntime-node ships and finds it through its
 * rpath for npm's usual layouts. In any other layout (pnpm, nested installs) loading
 * onnxruntime-node's own binding first maps that library, which then satisfies ours by soname.
 */
function loadAddon(path: string): Addon {
  try {
    return require(path) as Addon;
  } catch (first) {
    if (!/libonnxruntime/.test(String((first as Error)?.message))) throw loadError(path, first);
    try {
      require('onnxruntime-node');
      return require(path) as Addon;
    } catch (second) {
      throw loadError(path, second);
    }
  }
}

function loadError(path: string, cause: unknown): CrossrankError {
  return new CrossrankError(
    'ERR_ADDON_LOAD',
    `crossrank's native addon at ${path} could not be loaded: ${(cause as Error)?.message ?? String(cause)}. ` +
      'The prebuild needs Linux x64 with glibc >= 2.34 and the libstdc++ of GCC >= 12 (see the README\'s "Packaging and install from source" section); ' +
      'elsewhere install with "npm install crossrank --build-from-source"',
    { cause },
  );
}

export const addon: Addon = loadAddon(findAddon());
// When the process exits, native jobs (scoring, embedding, batch tokenizing) stop at their next
// step instead of running to the end while Node waits for its thread pool. Only the main thread's
// exit ends the process; a worker thread's does not.
if (isMainThread) process.once('exit', () => addon.beginExit());
