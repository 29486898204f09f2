/** Marks every error this library makes, whatever built-in class it extends. */
const BRAND = Symbol.for('crossrank.error');

/**
 * One error class for the library. Every error carries a stable `code`; argument errors are
 * TypeError/RangeError subclasses so `instanceof TypeError` keeps working, and they are
 * `instanceof CrossrankError` too.
 */
export class CrossrankError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CrossrankError';
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** Any error crossrank throws (CrossrankError, or its coded TypeError / RangeError); subclasses test their own prototype. */
  static [Symbol.hasInstance](value: unknown): boolean {
    if (this !== CrossrankError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** A per-item failure inside a batch: nothing the caller passed is dropped silently. */
export interface ItemFailure {
  index: number;
  code: string;
  message: string;
}

/** Thrown when some items of a batch failed; `results` holds the items that succeeded. */
export class BatchError<T> extends CrossrankError {
  readonly failures: ItemFailure[];
  readonly results: (T | null)[];
  constructor(failures: ItemFailure[], results: (T | null)[]) {
    const first = failures[0];
    super(
      'ERR_BATCH_PARTIAL',
      `${failures.length} of ${results.length} items failed; first: item ${first?.index}: ${first?.message}`,
    );
    this.name = 'BatchError';
    this.failures = failures;
    this.results = results;
  }
}

class CodedTypeError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_TYPE';
  constructor(message: string) {
    super(message);
    Object.defineProperty(this, BRAND, { value: true });
  }
}
class CodedRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE';
  constructor(message: string) {
    super(message);
    Object.defineProperty(this, BRAND, { value: true });
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)})`;
  if (typeof value === 'number') return `a number (${value})`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `type ${typeof value}`;
}

export function invalidType(name: string, expected: string, value: unknown): TypeError {
  return new CodedTypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`);
}

export function outOfRange(name: string, expected: string, value: unknown): RangeError {
  return new CodedRangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${describe(value)}`);
}

export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidType(name, 'of type string', value);
}

export function validateBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw invalidType(name, 'of type boolean', value);
}

export function validateInteger(value: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number') throw invalidType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
  }
}

export function validateOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const e = new CodedTypeError(
      `The "${name}" argument must be one of ${allowed.map((a) => `'${a}'`).join(', ')}. Received ${describe(value)}`,
    );
    throw e;
  }
}

export function validateObject(value: unknown, name: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidType(name, 'of type object', value);
}

/**
 * FAISS's exception text names the C++ function and source line ("Error in void
 * faiss::ProductQuantizer::set_derived_values() at ./faiss/impl/ProductQuantizer.cpp:59: Error:
 * 'd % M == 0' failed: …"); the user needs only what failed. The full text stays in `cause`.
 */
export function withoutCppFrames(message: string): string {
  return message.replace(/Error in [^\n]*? at [^\s:]+:\d+: (Error: )?/g, '');
}

/** Wrap an error thrown by the addon (which carries `code`) into a CrossrankError. */
export function fromNative(e: unknown): Error {
  if (e instanceof CrossrankError || e instanceof TypeError || e instanceof RangeError) return e;
  if (e instanceof Error) {
    const code = (e as Error & { code?: string }).code ?? 'ERR_NATIVE';
    return new CrossrankError(code, withoutCppFrames(e.message), { cause: e });
  }
  return new CrossrankError('ERR_NATIVE', String(e));
}

/** Edit distance between two short strings (option names), case and `_`/`-` ignored. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase().replace(/[-_]/g, '');
  const y = b.toLowerCase().replace(/[-_]/g, '');
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[y.length]!;
}

/** The allowed name closest to `key`, when it is close enough to be a slip. */
export function didYouMean(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const a of allowed) {
    const d = distance(key, a);
    if (d < bestD) [best, bestD] = [a, d];
  }
  return bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Refuse option keys that are not `allowed` (ERR_UNKNOWN_OPTION, with a did-you-mean): a misspelt option must not be ignored. */
export function validateKeys(value: object, name: string, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const near = didYouMean(key, allowed);
    throw new CrossrankError('ERR_UNKNOWN_OPTION', `${name}.${key} is not an option${near ? ` — did you mean ${name}.${near}?` : ''} (options: ${allowed.join(', ')})`);
  }
}

/** Refuse an empty or blank string (ERR_EMPTY_INPUT). */
export function validateNonEmpty(value: string, name: string): void {
  if (value.trim() === '') throw new CrossrankError('ERR_EMPTY_INPUT', `The "${name}" argument must not be empty or blank`);
}
