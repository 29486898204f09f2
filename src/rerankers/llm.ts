/**
 * LlmReranker: listwise reranking by a chat model behind any OpenAI-compatible endpoint (OpenAI,
 * vLLM, llama.cpp server, Ollama, …) through the official `openai` client.
 *
 * The model sees a window of passages numbered [1] … [w] and answers with an order ("[3] > [1] >
 * …"). Windows slide from the bottom of the list to the top (RankGPT: window 20, step 10), so a
 * relevant passage anywhere in the list can climb to the first place; the last window always starts
 * at the head. Answers are parsed so that no document is ever lost or repeated. With `mode: 'first'`
 * the order comes from the log-probabilities of the first identifier the model would write (FIRST,
 * single-token decoding) where the endpoint reports them.
 */
import OpenAI from 'openai';
import { CrossrankError, invalidType, outOfRange, validateBoolean, validateInteger, validateObject, validateOneOf, validateString } from '../errors.js';
import { abortError, validateDocs, type RerankDocument, type RerankResult } from '../inference/scorer.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { Reranker, RerankerOptions } from './types.js';

/** What a user template is given. */
export interface PromptParts {
  query: string;
  /** Passages in this window. */
  num: number;
  /** The window's passages, one per line: "[1] text", "[2] text", … */
  passages: string;
}

export interface LlmRerankerOptions {
  /** The model name the endpoint serves. */
  model: string;
  /** The endpoint, e.g. 'http://127.0.0.1:8000/v1' (vLLM) or 'http://localhost:11434/v1' (Ollama). Default: OpenAI's. */
  baseURL?: string;
  /** Default: the CROSSRANK_LLM_API_KEY environment variable, then OPENAI_API_KEY. Never logged. */
  apiKey?: string;
  /** A client you configured yourself (Azure, proxies, headers); `baseURL` and `apiKey` are then ignored. */
  client?: OpenAI;
  /** 'listwise' (default): parse the written order. 'first': order by the first identifier's log-probabilities. */
  mode?: 'listwise' | 'first';
  /** Passages per request. Default 20. In 'first' mode at most 20 (the endpoint's top_logprobs limit). */
  window?: number;
  /** How far the window moves up each time, 1…window. Default 10. */
  step?: number;
  /** Rerank only the first `depth` documents (the rest follow in input order). Default: all. */
  depth?: number;
  /** Words kept of each passage. Default 300. */
  maxPassageWords?: number;
  /**
   * Fit each prompt to the model's context: `tokens` is the context size, `count` a Tokenizer of
   * the model (or a function counting tokens). When a window's prompt is too long, every passage's
   * word cap is lowered until it fits; reserve is kept free for the answer.
   */
  context?: { tokens: number; count: Tokenizer | ((text: string) => number); reserve?: number };
  /** System message; null sends none. */
  systemPrompt?: string | null;
  /** The user message: a string with {query}, {num} and {passages} (required), or a function. */
  userTemplate?: string | ((parts: PromptParts) => string);
  /** Answer length limit (max_tokens). Default: 8 tokens per passage + 16 (listwise), 4 (first). */
  maxOutputTokens?: number;
  /** Per-request timeout in ms. Default 60 000. */
  timeoutMs?: number;
  /** Retries of a request after 408/409/429/5xx, a timeout or a lost connection. Default 3. */
  maxRetries?: number;
  /** First retry delay in ms, doubled each retry (with jitter) up to `retryMaxMs`. Default 500. */
  retryBaseMs?: number;
  /** Longest wait between retries, also the cap on a server's Retry-After. Default 8000. */
  retryMaxMs?: number;
  /** Requests in flight at once across all rerank calls of this instance. Default 4. */
  maxConcurrency?: number;
  /**
   * A request that still fails after its retries: 'throw' (default) rejects with an LlmRerankError
   * carrying the order reached so far; 'keep' leaves that window in its previous order, counts it
   * in `failedWindows` and goes on.
   */
  onWindowError?: 'throw' | 'keep';
  /**
   * Extra fields for every chat completion request ({ seed: 1 }, { reasoning_effort: 'low' }). They
   * may replace temperature and max_tokens (a reasoning model: { temperature: undefined,
   * max_tokens: undefined, max_completion_tokens: 4000 }); model, messages and stream stay ours.
   */
  request?: Record<string, unknown>;
}

/** Counters of one rerank call (or, from `totals`, of all calls so far). */
export interface LlmRerankStats {
  /** Windows ranked (one chat completion each, retries aside). */
  windows: number;
  /** HTTP requests made, retries included. */
  calls: number;
  retries: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Answers with no usable identifier: the window kept its previous order. */
  unparsable: number;
  /** Answers with duplicates, out-of-range or missing identifiers that were repaired. */
  repaired: number;
  /** Windows whose request failed after its retries (with onWindowError 'keep'). */
  failedWindows: number;
  /** 'first' mode: answers without usable log-probabilities, ranked from their text instead. */
  logprobFallbacks: number;
  /** Windows whose passages were cut below maxPassageWords to fit the context. */
  fittedWindows: number;
}

export interface LlmRerankResult<D extends RerankDocument = RerankDocument> extends RerankResult<D> {
  /** 'first' mode: the log-probability of this document's identifier in the last window that scored it. */
  logprob?: number;
}

/**
 * A request failed for good. `results` is the ranking reached before it (windows done applied,
 * the rest in input order; at most topK, every document once); `stats` the call's counters.
 */
export class LlmRerankError<D extends RerankDocument = RerankDocument> extends CrossrankError {
  readonly results: LlmRerankResult<D>[];
  readonly stats: LlmRerankStats;
  readonly status: number | undefined;
  constructor(code: string, message: string, results: LlmRerankResult<D>[], stats: LlmRerankStats, status: number | undefined, cause: unknown) {
    super(code, message, { cause });
    this.name = 'LlmRerankError';
    this.results = results;
    this.stats = stats;
    this.status = status;
  }
}

const DEFAULT_SYSTEM = 'You rank passages by how relevant they are to a search query.';
const DEFAULT_TEMPLATE =
  'Below are {num} passages, each marked with a numeric identifier in square brackets. ' +
  'Rank them by relevance to the search query: {query}\n\n{passages}\n\n' +
  'Search query: {query}\n' +
  'Rank all {num} passages above from most to least relevant. Answer only with the identifiers in order, ' +
  'in the form [2] > [1] > [3], and nothing else.';

const newStats = (): LlmRerankStats => ({
  windows: 0,
  calls: 0,
  retries: 0,
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  unparsable: 0,
  repaired: 0,
  failedWindows: 0,
  logprobFallbacks: 0,
  fittedWindows: 0,
});

// ---------------------------------------------------------------------------------------------
// Windows and answer parsing (pure functions, exported for tests)

/**
 * The windows [start, end) over the first `n` positions, in the order they are ranked: from the
 * bottom up by `step`, the last one always [0, window) (so the head is ranked whatever n, window
 * and step). Empty for n ≤ 1.
 */
export function slidingWindows(n: number, window: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  if (n <= 1) return out;
  for (let end = n; ; end -= step) {
    // Where RankGPT's loop would stop short of the head (start < 0), rank a full window at the head.
    if (end - window <= 0) {
      out.push([0, Math.min(n, window)]);
      return out;
    }
    out.push([end - window, end]);
  }
}

const DIGIT = /\p{Nd}/u;

/** Any Unicode decimal digit as its ASCII digit (Unicode encodes each script's 0–9 as one contiguous run). */
function asciiDigit(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp >= 0x30 && cp <= 0x39) return ch;
  let zero = cp;
  while (zero > 0 && DIGIT.test(String.fromCodePoint(zero - 1))) zero--;
  return String((cp - zero) % 10);
}

/** Compatibility forms to ASCII (fullwidth ［３］, circled ③, superscripts) and every script's digits to 0–9. */
function normaliseDigits(text: string): string {
  return text.normalize('NFKC').replace(/\p{Nd}/gu, asciiDigit);
}

/** The answer without reasoning: <think>…</think> blocks removed, an unclosed one dropped to the end. */
function stripThinking(text: string): string {
  let s = text.replace(/<think>[\s\S]*?<\/think>/gi, ' ');
  const close = s.toLowerCase().lastIndexOf('</think>');
  if (close >= 0) s = s.slice(close + '</think>'.length);  // the opening tag was in the prompt template
  const open = s.toLowerCase().indexOf('<think>');
  if (open >= 0) s = s.slice(0, open);
  return s;
}

export type ParseStatus = 'ok' | 'repaired' | 'unparsable';

/**
 * The order an answer gives to `n` passages, as 0-based positions: always a permutation of 0…n−1.
 * Identifiers are the digits of the answer (bracketed ones when there are any, so a numbered list
 * "1. [3]" reads as [3]); duplicates and numbers outside 1…n are dropped and missing passages follow
 * in their previous order.
 */
export function parseRanking(answer: string, n: number): { order: number[]; status: ParseStatus } {
  const text = normaliseDigits(stripThinking(answer));
  const bracketed = [...text.matchAll(/\[\s*(\d+)\s*\]/g)].map((m) => m[1]!);
  const tokens = bracketed.length ? bracketed : (text.match(/\d+/g) ?? []);
  const seen = new Set<number>();
  const order: number[] = [];
  let clean = tokens.length > 0;
  for (const t of tokens) {
    const id = t.length > 9 ? 0 : Number(t);
    if (id < 1 || id > n || seen.has(id - 1)) {
      clean = false;
      continue;
    }
    seen.add(id - 1);
    order.push(id - 1);
  }
  const found = order.length;
  for (let i = 0; i < n; i++) if (!seen.has(i)) order.push(i);
  return { order, status: found === 0 ? 'unparsable' : clean && found === n ? 'ok' : 'repaired' };
}

interface TokenLogprob {
  token: string;
  logprob: number;
  top_logprobs?: { token: string; logprob: number }[];
}

/**
 * FIRST: the order given by the log-probabilities of the first identifier after "[" in the answer,
 * or null when the answer carries none. Identifiers without a log-probability follow in their
 * previous order.
 */
export function firstTokenOrder(content: readonly TokenLogprob[] | null | undefined, n: number): { order: number[]; logprobs: Map<number, number> } | null {
  if (!content?.length) return null;
  let before = '';
  for (const pos of content) {
    const tok = normaliseDigits(pos.token);
    const opened = before.trimEnd().endsWith('[');
    if ((opened && /^\s*\d/.test(tok)) || /^\s*\[\s*\d/.test(tok)) {
      const logprobs = new Map<number, number>();
      for (const alt of [...(pos.top_logprobs ?? []), { token: pos.token, logprob: pos.logprob }]) {
        const m = /^\s*\[?\s*(\d+)\s*\]?\s*$/.exec(normaliseDigits(alt.token));
        const id = m ? Number(m[1]) - 1 : -1;
        if (id < 0 || id >= n || !Number.isFinite(alt.logprob)) continue;
        logprobs.set(id, Math.max(logprobs.get(id) ?? -Infinity, alt.logprob));
      }
      if (!logprobs.size) return null;
      const order = [...logprobs.keys()].sort((a, b) => logprobs.get(b)! - logprobs.get(a)! || a - b);
      for (let i = 0; i < n; i++) if (!logprobs.has(i)) order.push(i);
      return { order, logprobs };
    }
    before += tok;
    if (before.length > 64) return null;  // the identifier comes first or not at all
  }
  return null;
}

// ---------------------------------------------------------------------------------------------

/** A counting semaphore whose waiters can be aborted. */
class Limiter {
  #free: number;
  readonly #queue: { go: () => void; signal: AbortSignal | undefined; abort: () => void }[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  acquire(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        signal,
        go: () => {
          signal?.removeEventListener('abort', entry.abort);
          resolve();
        },
        abort: () => {
          const i = this.#queue.indexOf(entry);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(abortError(signal!));
        },
      };
      signal?.addEventListener('abort', entry.abort, { once: true });
      this.#queue.push(entry);
    });
  }
  release(): void {
    const next = this.#queue.shift();
    if (next) next.go();
    else this.#free++;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The wait a response asks for (Retry-After-Ms, Retry-After seconds or date), if any. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const ra = headers?.get('retry-after');
  if (!ra) return undefined;
  const s = Number.parseFloat(ra);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

const RETRY_STATUS = (s: number) => s === 408 || s === 409 || s === 429 || s >= 500;

function countWith(c: Tokenizer | ((text: string) => number)): (text: string) => number {
  if (c instanceof Tokenizer) return (t) => c.encode(t, null, { addSpecialTokens: false, truncation: false }).ids.length;
  return (t) => {
    const n = c(t);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw invalidType('options.context.count(text)', 'a token count (an integer >= 0)', n);
    return n;
  };
}

function capWords(text: string, words: number): string {
  const parts = text.split(/\s+/).filter(Boolean);
  return parts.slice(0, words).join(' ');
}

interface Resolved {
  model: string;
  mode: 'listwise' | 'first';
  window: number;
  step: number;
  depth: number | undefined;
  maxWords: number;
  count: ((text: string) => number) | null;
  contextTokens: number;
  reserve: number;
  system: string | null;
  template: (p: PromptParts) => string;
  maxOutputTokens: number | undefined;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  onWindowError: 'throw' | 'keep';
  request: Record<string, unknown>;
}

export class LlmReranker implements Reranker {
  readonly #client: OpenAI;
  readonly #o: Resolved;
  readonly #limiter: Limiter;
  readonly #secret: string | undefined;
  readonly #totals = newStats();

  constructor(options: LlmRerankerOptions) {
    validateObject(options as unknown, 'options');
    validateString(options.model, 'options.model');
    const mode = options.mode ?? 'listwise';
    validateOneOf(mode, 'options.mode', ['listwise', 'first'] as const);
    const window = options.window ?? 20;
    validateInteger(window, 'options.window', 2, mode === 'first' ? 20 : 1000);
    const step = options.step ?? Math.min(10, window);
    validateInteger(step, 'options.step', 1, window);
    if (options.depth !== undefined) validateInteger(options.depth, 'options.depth', 1);
    const maxWords = options.maxPassageWords ?? 300;
    validateInteger(maxWords, 'options.maxPassageWords', 1, 1 << 20);
    let count: Resolved['count'] = null;
    let contextTokens = 0;
    let reserve = 0;
    const maxOutputTokens = options.maxOutputTokens ?? (mode === 'first' ? 4 : 8 * window + 16);
    validateInteger(maxOutputTokens, 'options.maxOutputTokens', 1, 1 << 20);
    if (options.context !== undefined) {
      validateObject(options.context, 'options.context');
      validateInteger(options.context.tokens, 'options.context.tokens', 16, 1 << 24);
      const c = options.context.count;
      if (!(c instanceof Tokenizer) && typeof c !== 'function') throw invalidType('options.context.count', 'a Tokenizer or a function (text) => tokens', c);
      count = countWith(c);
      contextTokens = options.context.tokens;
      reserve = options.context.reserve ?? maxOutputTokens;
      validateInteger(reserve, 'options.context.reserve', 0, contextTokens - 1);
    }
    if (mode === 'first' && count) {
      // FIRST reads one token per identifier: every identifier in a window must be a single token.
      let single = 0;
      while (single < window && count(String(single + 1)) === 1) single++;
      if (single < window) {
        throw outOfRange('options.window', `at most ${single} in 'first' mode (identifiers 1…${single} are single tokens for this tokenizer; ${single + 1} is not)`, window);
      }
    }
    const system = options.systemPrompt === undefined ? DEFAULT_SYSTEM : options.systemPrompt;
    if (system !== null) validateString(system, 'options.systemPrompt');
    const tpl = options.userTemplate ?? DEFAULT_TEMPLATE;
    let template: Resolved['template'];
    if (typeof tpl === 'function') {
      template = (p) => {
        const s = tpl(p);
        if (typeof s !== 'string') throw invalidType('options.userTemplate(parts)', 'a string', s);
        return s;
      };
    } else {
      validateString(tpl, 'options.userTemplate');
      if (!tpl.includes('{passages}')) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'options.userTemplate must contain {passages} (and usually {query} and {num})');
      // One pass, so a query that contains "{passages}" is not expanded again.
      template = (p) => tpl.replace(/\{(query|num|passages)\}/g, (_, k: keyof PromptParts) => String(p[k]));
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    validateInteger(timeoutMs, 'options.timeoutMs', 1, 3_600_000);
    const maxRetries = options.maxRetries ?? 3;
    validateInteger(maxRetries, 'options.maxRetries', 0, 20);
    const retryBaseMs = options.retryBaseMs ?? 500;
    validateInteger(retryBaseMs, 'options.retryBaseMs', 0, 600_000);
    const retryMaxMs = options.retryMaxMs ?? 8000;
    validateInteger(retryMaxMs, 'options.retryMaxMs', 0, 600_000);
    const maxConcurrency = options.maxConcurrency ?? 4;
    validateInteger(maxConcurrency, 'options.maxConcurrency', 1, 1024);
    const onWindowError = options.onWindowError ?? 'throw';
    validateOneOf(onWindowError, 'options.onWindowError', ['throw', 'keep'] as const);
    const request = options.request ?? {};
    validateObject(request, 'options.request');

    if (options.client !== undefined) {
      if (!(options.client instanceof OpenAI)) throw invalidType('options.client', 'an OpenAI client instance', options.client);
      this.#client = options.client;
    } else {
      if (options.baseURL !== undefined) validateString(options.baseURL, 'options.baseURL');
      if (options.apiKey !== undefined) validateString(options.apiKey, 'options.apiKey');
      const key = options.apiKey ?? process.env.CROSSRANK_LLM_API_KEY ?? process.env.OPENAI_API_KEY;
      if (!key && options.baseURL === undefined) {
        throw new CrossrankError('ERR_LLM_API_KEY', 'no API key: pass options.apiKey or set CROSSRANK_LLM_API_KEY or OPENAI_API_KEY (a local endpoint given by options.baseURL needs none)');
      }
      this.#secret = key || undefined;
      // Local servers (llama.cpp, Ollama, vLLM) take any key; the client insists on one.
      this.#client = new OpenAI({ apiKey: key || 'none', baseURL: options.baseURL, maxRetries: 0, timeout: timeoutMs });
    }
    this.#limiter = new Limiter(maxConcurrency);
    this.#o = {
      model: options.model,
      mode,
      window,
      step,
      depth: options.depth,
      maxWords,
      count,
      contextTokens,
      reserve,
      system,
      template,
      maxOutputTokens,
      timeoutMs,
      maxRetries,
      retryBaseMs,
      retryMaxMs,
      onWindowError,
      request,
    };
  }

  /** The model name requests go to. */
  get model(): string {
    return this.#o.model;
  }

  /** Counters summed over every rerank call of this instance. */
  get totals(): Readonly<LlmRerankStats> {
    return { ...this.#totals };
  }

  /**
   * Rerank `docs` for `query`: results best first, at most `topK`. Scores fall with the final rank
   * ((n − rank) / n); they order one call's results and mean nothing across calls.
   */
  async rerank<D extends RerankDocument>(query: string, docs: readonly D[], options: RerankerOptions = {}): Promise<LlmRerankResult<D>[]> {
    return (await this.rerankDetailed(query, docs, options)).results;
  }

  /** {@link rerank} with the call's counters: requests, retries, tokens, repaired answers. */
  async rerankDetailed<D extends RerankDocument>(
    query: string,
    docs: readonly D[],
    options: RerankerOptions = {},
  ): Promise<{ results: LlmRerankResult<D>[]; stats: LlmRerankStats }> {
    validateString(query, 'query');
    validateObject(options as unknown, 'options');
    const texts = validateDocs(docs);
    const n = texts.length;
    let topK = n;
    if (options.topK !== undefined) {
      validateInteger(options.topK, 'options.topK', 1);
      topK = Math.min(options.topK, n);
    }
    const returnDocuments = options.returnDocuments ?? false;
    validateBoolean(returnDocuments, 'options.returnDocuments');
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidType('options.signal', 'an AbortSignal', signal);
    if (signal?.aborted) throw abortError(signal);

    const stats = newStats();
    const perm = Array.from({ length: n }, (_, i) => i);
    const logprobs = new Map<number, number>();
    const present = () => {
      const out = perm.slice(0, topK).map((i, rank) => {
        const r: LlmRerankResult<D> = { index: i, score: (n - rank) / n, logit: (n - rank) / n };
        const d = docs[i]!;
        if (typeof d === 'object' && d.id !== undefined) r.id = d.id;
        if (returnDocuments) r.document = d;
        if (logprobs.has(i)) r.logprob = logprobs.get(i)!;
        return r;
      });
      return out;
    };
    const addTotals = () => {
      for (const k of Object.keys(stats) as (keyof LlmRerankStats)[]) this.#totals[k] += stats[k];
    };
    try {
      for (const [start, end] of slidingWindows(Math.min(n, this.#o.depth ?? n), this.#o.window, this.#o.step)) {
        const slice = perm.slice(start, end);
        let ranked: { order: number[]; logprobs?: Map<number, number> };
        try {
          ranked = await this.#rankWindow(query, slice.map((i) => texts[i]!), signal, stats);
        } catch (e) {
          const code = (e as { code?: string }).code ?? '';
          // Only a failed request may be skipped; aborts and configuration errors always end the call.
          if (!code.startsWith('ERR_LLM_')) throw e;
          if (this.#o.onWindowError === 'throw') {
            const err = e as CrossrankError & { status?: number };
            throw new LlmRerankError(err.code ?? 'ERR_LLM_REQUEST', err.message, present(), stats, err.status, err);
          }
          stats.failedWindows++;
          continue;
        }
        ranked.order.forEach((local, j) => (perm[start + j] = slice[local]!));
        ranked.logprobs?.forEach((lp, local) => logprobs.set(slice[local]!, lp));
      }
    } finally {
      addTotals();
    }
    return { results: present(), stats };
  }

  /** The messages for one window, fitted to the context when a token counter is set. */
  #messages(query: string, passages: string[], stats: LlmRerankStats): OpenAI.Chat.ChatCompletionMessageParam[] {
    const o = this.#o;
    const build = (words: number): OpenAI.Chat.ChatCompletionMessageParam[] => {
      const lines = passages.map((p, i) => `[${i + 1}] ${capWords(p, words)}`).join('\n');
      const user = o.template({ query, num: passages.length, passages: lines });
      return o.system === null ? [{ role: 'user', content: user }] : [{ role: 'system', content: o.system }, { role: 'user', content: user }];
    };
    if (!o.count) return build(o.maxWords);
    const budget = o.contextTokens - o.reserve;
    // A few tokens per message for the chat template's role markers.
    const size = (m: OpenAI.Chat.ChatCompletionMessageParam[]) => m.reduce((s, x) => s + 8 + o.count!(x.content as string), 0);
    let msgs = build(o.maxWords);
    if (size(msgs) <= budget) return msgs;
    // The largest word cap that fits, by bisection.
    let lo = 0;
    let hi = o.maxWords;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (size(build(mid)) <= budget) lo = mid;
      else hi = mid - 1;
    }
    if (lo === 0) {
      throw new CrossrankError(
        'ERR_PROMPT_TOO_LONG',
        `a prompt of ${passages.length} passages does not fit options.context.tokens = ${o.contextTokens} (less ${o.reserve} reserved for the answer) even with no passage text; lower options.window or raise the context`,
      );
    }
    msgs = build(lo);
    stats.fittedWindows++;
    return msgs;
  }

  async #rankWindow(
    query: string,
    passages: string[],
    signal: AbortSignal | undefined,
    stats: LlmRerankStats,
  ): Promise<{ order: number[]; logprobs?: Map<number, number> }> {
    const o = this.#o;
    const messages = this.#messages(query, passages, stats);
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
      temperature: 0,
      max_tokens: o.maxOutputTokens,
      ...o.request,
      model: o.model,
      messages,
      stream: false,
    };
    if (o.mode === 'first') {
      body.logprobs = true;
      body.top_logprobs = passages.length;
    }
    stats.windows++;
    const completion = await this.#complete(body, signal, stats);
    const choice = completion.choices?.[0];
    const content = typeof choice?.message?.content === 'string' ? choice.message.content : '';
    if (o.mode === 'first') {
      const first = firstTokenOrder(choice?.logprobs?.content as TokenLogprob[] | undefined, passages.length);
      if (first) return first;
      stats.logprobFallbacks++;
    }
    const parsed = parseRanking(content, passages.length);
    if (parsed.status === 'unparsable') stats.unparsable++;
    else if (parsed.status === 'repaired') stats.repaired++;
    return { order: parsed.order };
  }

  /** One chat completion with bounded, abortable retries (the client's own retries are off). */
  async #complete(
    body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
    signal: AbortSignal | undefined,
    stats: LlmRerankStats,
  ): Promise<OpenAI.Chat.ChatCompletion> {
    const o = this.#o;
    for (let attempt = 0; ; attempt++) {
      await this.#limiter.acquire(signal);
      let wait: number | undefined;
      try {
        stats.calls++;
        const r = await this.#client.chat.completions.create(body, { signal, timeout: o.timeoutMs, maxRetries: 0 });
        if (r.usage) {
          stats.promptTokens += r.usage.prompt_tokens ?? 0;
          stats.completionTokens += r.usage.completion_tokens ?? 0;
          stats.totalTokens += r.usage.total_tokens ?? 0;
        }
        return r;
      } catch (e) {
        if (signal?.aborted) throw abortError(signal);
        const err = this.#classify(e);
        if (!err.retry || attempt >= o.maxRetries) throw err.error;
        const backoff = Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** attempt) * (1 - Math.random() * 0.25);
        wait = Math.min(o.retryMaxMs, err.after ?? backoff);
      } finally {
        this.#limiter.release();
      }
      stats.retries++;
      await sleep(wait, signal);
    }
  }

  /** A typed error for a failed request (the API key never appears in it), and whether to retry. */
  #classify(e: unknown): { error: CrossrankError; retry: boolean; after?: number } {
    const redact = (s: string) => (this.#secret ? s.split(this.#secret).join('***') : s);
    const make = (code: string, msg: string, status?: number) => {
      const err = new CrossrankError(code, redact(`LLM request to model '${this.#o.model}' failed: ${msg}`), { cause: e });
      if (status !== undefined) (err as CrossrankError & { status?: number }).status = status;
      return err;
    };
    if (e instanceof OpenAI.APIConnectionTimeoutError) return { error: make('ERR_LLM_TIMEOUT', `no answer within ${this.#o.timeoutMs} ms`), retry: true };
    if (e instanceof OpenAI.APIConnectionError) return { error: make('ERR_LLM_CONNECTION', (e as Error).message), retry: true };
    if (e instanceof OpenAI.APIError && typeof e.status === 'number') {
      const s = e.status;
      const code = s === 429 ? 'ERR_LLM_RATE_LIMIT' : s >= 500 ? 'ERR_LLM_SERVER' : 'ERR_LLM_REQUEST';
      return { error: make(code, e.message, s), retry: RETRY_STATUS(s), after: retryAfterMs(e.headers as Headers | undefined) };
    }
    if (e instanceof CrossrankError) return { error: e, retry: false };
    return { error: make('ERR_LLM_RESPONSE', e instanceof Error ? e.message : String(e)), retry: false };
  }
}
