/**
 * Hard limits of the HTTP service. Every limit is checked before any model work: counts and nesting
 * of the JSON body by a byte scan of the raw body before JSON.parse (so a 5-million-element array is
 * refused without building it), string lengths and numbers by the route schemas (maxLength,
 * maxItems, maximum), what depends on the parsed body (joined rank_fields) by the routes.
 */
import { validateInteger } from '../errors.js';
import { HttpError } from './http-error.js';

export interface ServerLimits {
  /** Documents (or TEI `texts`) per rerank request. Default 1000, as Cohere. */
  maxDocuments: number;
  /** Characters (Unicode code points) in a query. Default 65 536. */
  maxQueryChars: number;
  /** Characters in one document or /embed input. Default 524 288. */
  maxDocumentChars: number;
  /** Largest `max_chunks_per_doc` a request may ask for. Default 32. */
  maxChunksPerDoc: number;
  /** Largest `top_n` (and /search `top_k`). Default 1000. */
  maxTopN: number;
  /** Largest /search `candidates` (pairs reranked per search). Default 1000. */
  maxCandidates: number;
  /** Inputs per /embed request. Default 1000. */
  maxEmbedInputs: number;
  /** JSON values (array items, object members, containers) in one body. Default 100 000. */
  maxJsonValues: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxDocuments: 1000,
  maxQueryChars: 64 * 1024,
  maxDocumentChars: 512 * 1024,
  maxChunksPerDoc: 32,
  maxTopN: 1000,
  maxCandidates: 1000,
  maxEmbedInputs: 1000,
  maxJsonValues: 100_000,
};

/** Nesting deeper than this is refused (no request shape needs more than a few levels). */
export const MAX_JSON_DEPTH = 32;

/** The wire name of each limit (snake_case; the CLI flag is `--max-…` with dashes). */
export const LIMIT_NAMES: Record<keyof ServerLimits, string> = {
  maxDocuments: 'max_documents',
  maxQueryChars: 'max_query_chars',
  maxDocumentChars: 'max_document_chars',
  maxChunksPerDoc: 'max_chunks_per_doc',
  maxTopN: 'max_top_n',
  maxCandidates: 'max_candidates',
  maxEmbedInputs: 'max_embed_inputs',
  maxJsonValues: 'max_json_values',
};

export function resolveLimits(given: Partial<ServerLimits> | undefined, name = 'options.limits'): ServerLimits {
  const out = { ...DEFAULT_LIMITS, ...(given ?? {}) };
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]) validateInteger(out[k], `${name}.${k}`, 1);
  return out;
}

/**
 * A refused request: 413 when the input is too large (counts, characters, tokens), 422 when a
 * parameter asks for more than allowed. The body names the limit, the value and the maximum.
 */
export function limitError(limit: keyof ServerLimits | 'max_json_depth', field: string, value: number, maximum: number): HttpError {
  const name = limit === 'max_json_depth' ? limit : LIMIT_NAMES[limit];
  const extra = { limit: name, field, value, maximum };
  if (limit === 'maxDocuments' || limit === 'maxEmbedInputs') {
    // TEI's wording, so clients that match on it keep working.
    return new HttpError(413, 'Validation', 'ERR_TOO_MANY_INPUTS', `batch size ${value} > maximum allowed batch size ${maximum} (\`${field}\`, limit ${name})`, extra);
  }
  if (limit === 'maxQueryChars' || limit === 'maxDocumentChars') {
    return new HttpError(413, 'Validation', 'ERR_INPUT_TOO_LONG', `\`${field}\` has ${value} characters > maximum ${maximum} (limit ${name})`, extra);
  }
  if (limit === 'maxJsonValues' || limit === 'max_json_depth') {
    const what = limit === 'max_json_depth' ? 'nesting depth' : 'JSON values';
    return new HttpError(413, 'Validation', 'ERR_BODY_TOO_COMPLEX', `the request body has ${what} ${value} > maximum ${maximum} (limit ${name})`, extra);
  }
  return new HttpError(422, 'Validation', 'ERR_LIMIT', `\`${field}\` is ${value} > maximum ${maximum} (limit ${name})`, extra);
}

/** The first limit a body breaks, as found by {@link scanJsonShape}. */
export interface ShapeViolation {
  limit: keyof ServerLimits | 'max_json_depth';
  field: string;
  value: number;
  maximum: number;
}

export interface ShapeRules {
  /** Arrays held directly by a top-level field: the field's limit. */
  fields: Record<string, { limit: keyof ServerLimits; max: number }>;
  maxValues: number;
  maxDepth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The index of the quote closing the string opened at `open`, or -1: String#indexOf finds each
 * candidate quote (a builtin, so long documents are skipped fast); an odd run of backslashes
 * before it means it is escaped.
 */
function stringEnd(text: string, open: number): number {
  let q = open + 1;
  for (;;) {
    q = text.indexOf('"', q);
    if (q < 0) return -1;
    let k = q - 1;
    while (k > open && text.charCodeAt(k) === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q;
    q++;
  }
}

/**
 * Count what JSON.parse would build, without building it: items of each array held by a top-level
 * field, all values, nesting depth. One pass over the text with a fixed-size stack (nesting is
 * capped), so it allocates nothing per value. Returns the first violation (a too-long array with
 * its full item count), or null. Syntax is JSON.parse's job: on malformed input this only has to
 * terminate, which it does (one forward pass).
 */
export function scanJsonShape(text: string, rules: ShapeRules): ShapeViolation | null {
  const names = Object.keys(rules.fields);
  const maxDepth = rules.maxDepth;
  // Per open container: 1 for an array; its item count; the field rule it answers to (-1: none).
  const isArray = new Uint8Array(maxDepth + 1);
  const items = new Float64Array(maxDepth + 1);
  const rule = new Int32Array(maxDepth + 1);
  let depth = 0;
  let expectKey = false;  // in an object, before a member's key
  let afterOpen = false;  // just after '[': the next value is the first item
  let values = 1;
  let lastKey = -1;  // rule index of the last top-level key, -1 when it names no counted field
  let overDepth = -1;  // the depth of the first array over its limit
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (afterOpen) {
      afterOpen = false;
      if (c !== 0x5d) items[depth - 1] = 1;
    }
    if (c === QUOTE) {
      const q = stringEnd(text, i);
      if (q < 0) return null;  // unterminated: JSON.parse reports it
      if (expectKey && depth === 1) lastKey = names.indexOf(text.slice(i + 1, q));
      i = q + 1;
      continue;
    }
    if (c === 0x5b || c === 0x7b) {  // [ {
      values++;
      if (depth + 1 > maxDepth) return { limit: 'max_json_depth', field: '(body)', value: depth + 1, maximum: maxDepth };
      const arr = c === 0x5b;
      isArray[depth] = arr ? 1 : 0;
      items[depth] = 0;
      rule[depth] = arr && depth === 1 && !isArray[0] ? lastKey : -1;
      depth++;
      afterOpen = arr;
      expectKey = !arr;
    } else if (c === 0x5d || c === 0x7d) {  // ] }
      if (overDepth === depth) break;
      if (depth > 0) depth--;
      expectKey = false;
    } else if (c === 0x2c) {  // ,
      values++;
      if (depth > 0 && isArray[depth - 1]) {
        const count = ++items[depth - 1]!;
        const r = rule[depth - 1]!;
        if (overDepth < 0 && r >= 0 && count > rules.fields[names[r]!]!.max) overDepth = depth;
      } else {
        expectKey = true;
      }
    } else if (c === 0x3a) {  // :
      expectKey = false;
    }
    // A too-long array is reported with its full count (at its ']'); everything else at once.
    if (overDepth < 0 && values > rules.maxValues) return { limit: 'maxJsonValues', field: '(body)', value: values, maximum: rules.maxValues };
    i++;
  }
  if (overDepth < 0) return null;
  const name = names[rule[overDepth - 1]!]!;
  return { limit: rules.fields[name]!.limit, field: name, value: items[overDepth - 1]!, maximum: rules.fields[name]!.max };
}

/** Scan rules for this server's limits: which top-level fields hold which counted arrays. */
export function shapeRules(limits: ServerLimits): ShapeRules {
  const docs = { limit: 'maxDocuments' as const, max: limits.maxDocuments };
  return {
    fields: { texts: docs, documents: docs, inputs: { limit: 'maxEmbedInputs', max: limits.maxEmbedInputs } },
    maxValues: limits.maxJsonValues,
    maxDepth: MAX_JSON_DEPTH,
  };
}

/** Throw the limit error for a scan's violation. */
export function checkShape(text: string, rules: ShapeRules): void {
  const v = scanJsonShape(text, rules);
  if (v) throw limitError(v.limit, v.field, v.value, v.maximum);
}

/** Characters as JSON Schema's maxLength counts them (code points). */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** An Ajv error as fastify attaches it to a failed validation. */
interface AjvError {
  keyword: string;
  instancePath: string;
  params: { limit?: number };
}

const FIELD_LIMITS: [RegExp, string, keyof ServerLimits][] = [
  [/^\/(documents|texts)$/, 'maxItems', 'maxDocuments'],
  [/^\/inputs$/, 'maxItems', 'maxEmbedInputs'],
  [/^\/query$/, 'maxLength', 'maxQueryChars'],
  [/^\/(documents|texts|inputs)(\/\d+)?$/, 'maxLength', 'maxDocumentChars'],
  [/^\/(top_n|top_k)$/, 'maximum', 'maxTopN'],
  [/^\/candidates$/, 'maximum', 'maxCandidates'],
  [/^\/max_chunks_per_doc$/, 'maximum', 'maxChunksPerDoc'],
];

/** A schema failure on one of the limits (maxItems / maxLength / maximum) as a limit error, with the value. */
export function limitFromValidation(errors: readonly AjvError[], body: unknown): HttpError | null {
  for (const e of errors) {
    const hit = FIELD_LIMITS.find(([re, kw]) => kw === e.keyword && re.test(e.instancePath));
    if (!hit || e.params.limit === undefined) continue;
    let v: unknown = body;
    for (const part of e.instancePath.split('/').slice(1)) v = (v as Record<string, unknown> | undefined)?.[part];
    const value = typeof v === 'string' ? codePoints(v) : Array.isArray(v) ? v.length : Number(v);
    return limitError(hit[2], e.instancePath.slice(1).replace(/\//g, '.'), value, e.params.limit);
  }
  return null;
}
