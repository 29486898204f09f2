/** What every retriever shares: argument validation, abort handling and candidate checks. */
import { BatchError, CrossrankError, invalidType, validateInteger, validateObject, validateString, type ItemFailure } from '../errors.js';
import { abortError } from '../inference/scorer.js';
import type { Candidate, RetrieveOptions } from './types.js';

/** Largest `k` a retriever accepts (a first stage returns candidates for reranking, not a table dump). */
export const MAX_K = 100_000;

export function validateRetrieve(query: unknown, options: unknown): { k: number; signal: AbortSignal | undefined } {
  validateString(query, 'query');
  validateObject(options, 'options');
  const { k, signal } = options as unknown as RetrieveOptions;
  validateInteger(k, 'options.k', 1, MAX_K);
  validateSignal(signal, 'options.signal');
  if (signal?.aborted) throw abortError(signal);
  return { k, signal };
}

export function validateSignal(signal: unknown, name: string): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidType(name, 'an AbortSignal', signal);
}

/**
 * Settle with `work`, or reject with an AbortError as soon as `signal` aborts (the work may still
 * be running; `onAbort` is the place to stop it).
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort?: () => void): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    onAbort?.();
    work.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort?.();
      work.catch(() => {});
      reject(abortError(signal));
    };
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

/** Hybrid settings shared by the retrievers: depth per side (optional) and the RRF constant (default 60). */
export function validateFusion(options: { depth?: unknown; rrfK?: unknown }): { depth: number | undefined; rrfK: number } {
  if (options.depth !== undefined) validateInteger(options.depth, 'options.depth', 1, MAX_K);
  const rrfK = options.rrfK ?? 60;
  if (typeof rrfK !== 'number' || !(rrfK >= 0) || !Number.isFinite(rrfK)) throw invalidType('options.rrfK', 'a finite number >= 0', rrfK);
  return { depth: options.depth as number | undefined, rrfK };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Why `item` is not a valid candidate (code, message), or null when it is. */
function candidateProblem(item: unknown, name: string, seen: Set<string>, needScore: boolean): [string, string] | null {
  if (!isPlainObject(item)) return ['ERR_CANDIDATE_TYPE', `${name} must be an object {id, text, score}, got ${item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item}`];
  if (typeof item.id !== 'string' || item.id === '') return ['ERR_CANDIDATE_ID', `${name}.id must be a non-empty string, got ${JSON.stringify(item.id) ?? typeof item.id}`];
  if (seen.has(item.id)) return ['ERR_CANDIDATE_DUPLICATE_ID', `${name}.id ${JSON.stringify(item.id)} appears earlier in the same result list`];
  if (typeof item.text !== 'string') return ['ERR_CANDIDATE_TEXT', `${name}.text must be a string, got ${item.text === null ? 'null' : typeof item.text}`];
  if (needScore && (typeof item.score !== 'number' || !Number.isFinite(item.score))) {
    return ['ERR_CANDIDATE_SCORE', `${name}.score must be a finite number, got ${typeof item.score === 'number' ? item.score : typeof item.score}`];
  }
  if (item.metadata !== undefined && item.metadata !== null && !isPlainObject(item.metadata)) {
    return ['ERR_CANDIDATE_METADATA', `${name}.metadata must be an object when present, got ${Array.isArray(item.metadata) ? 'an array' : typeof item.metadata}`];
  }
  return null;
}

/**
 * Check hits a source returned and copy them into fresh Candidate objects. Every bad item is
 * reported (BatchError, code ERR_BATCH_PARTIAL, `failures` per item, `results` holding the valid
 * candidates at their positions and null elsewhere); none is dropped silently.
 * `scores` overrides the items' own scores (index searches score, the lookup only names documents);
 * `missing` describes an undefined item (a lookup that does not know a number).
 */
export function checkCandidates(
  items: readonly unknown[],
  source: string,
  options: { scores?: readonly number[]; missing?: (i: number) => string } = {},
): Candidate[] {
  const { scores, missing } = options;
  const seen = new Set<string>();
  const failures: ItemFailure[] = [];
  const out: (Candidate | null)[] = items.map((item, i) => {
    const problem: [string, string] | null =
      item === undefined && missing ? ['ERR_DOC_NOT_FOUND', missing(i)] : candidateProblem(item, `${source}[${i}]`, seen, scores === undefined);
    if (problem) {
      failures.push({ index: i, code: problem[0], message: problem[1] });
      return null;
    }
    const it = item as Record<string, unknown>;
    seen.add(it.id as string);
    const c: Candidate = { id: it.id as string, text: it.text as string, score: scores ? scores[i]! : (it.score as number) };
    if (isPlainObject(it.metadata)) c.metadata = it.metadata;
    return c;
  });
  if (failures.length) throw new BatchError<Candidate>(failures, out);
  return out as Candidate[];
}

/** A source returned something that is not a list of hits at all. */
export function badResult(source: string, expected: string, got: unknown): CrossrankError {
  const what = got === null ? 'null' : Array.isArray(got) ? `an array of length ${got.length}` : typeof got;
  return new CrossrankError('ERR_RETRIEVER_RESULT', `${source} must return ${expected}; got ${what}`);
}
