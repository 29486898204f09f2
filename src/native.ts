/**
 * The only module that loads the compiled addon; it types the addon's surface. Everything else
 * imports from here.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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

export interface Addon {
  NativeTokenizer: new (pathOrJson: string, origin?: string, isJson?: boolean) => NativeTokenizer;
}

function findAddon(): string {
  if (process.env.CROSSRANK_ADDON) return resolve(process.env.CROSSRANK_ADDON);
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..');
  for (const p of ['build/Release/crossrank.node', 'build/Debug/crossrank.node']) {
    const full = join(root, p);
    if (existsSync(full)) return full;
  }
  throw new CrossrankError('ERR_ADDON_NOT_BUILT', `crossrank's native addon is not built (looked in ${root}/build); run "npm run build:native"`);
}

const require = createRequire(import.meta.url);
export const addon: Addon = require(findAddon()) as Addon;
