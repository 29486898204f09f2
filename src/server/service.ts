/**
 * What the routes share: the loaded models, limits, admission, metrics, and each request's "work"
 * (one AbortSignal fired by the client leaving, the deadline passing or a forced drain). Routes
 * check their limits, then call rerank / embed / search here, which admit the request, measure
 * tokens where the request needs it (before any scoring) and run the model.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Collection } from '../collection/collection.js';
import type { BiEncoder } from '../inference/bi-encoder.js';
import { abortError, resolveChunking, type RerankResult, type Scorer } from '../inference/scorer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { Admission } from './admission.js';
import { type AbortCause } from './errors.js';
import { HttpError, loading, validation } from './http-error.js';
import type { ServerLimits } from './limits.js';
import type { Metrics } from './metrics.js';

export type ServerState = 'loading' | 'ready' | 'draining' | 'failed';

/** One reranker the server can serve by name. */
export interface NamedReranker {
  scorer: Scorer;
  tokenizer?: Tokenizer;
}

export interface Models {
  reranker?: Scorer;
  /** Every reranker by the name a request's `model` gives (the default one included). */
  rerankers?: Map<string, NamedReranker>;
  /** The reranker's tokenizer (pair lengths before scoring), when it has one. */
  rerankerTokenizer?: Tokenizer;
  embedder?: BiEncoder;
  collection?: Collection;
}

export interface RerankCall {
  route: string;
  /** The reranker a request names (Cohere's `model`); default: the server's default reranker. */
  model?: string;
  query: string;
  texts: string[];
  /** false: refuse (413) pairs over the model's limit, found by tokenizing before scoring. */
  truncate: boolean;
  /** Score up to this many windows of each long document (Cohere v1's max_chunks_per_doc). */
  maxChunks?: number;
  /** Cut each document to this many tokens first (Cohere v2's max_tokens_per_doc). */
  maxTokensPerDoc?: number;
  /** Count the tokens the model reads (usage in Jina / Cohere answers). */
  countTokens?: boolean;
}

export interface RerankOutcome {
  results: RerankResult<string>[];
  /** Tokens of the pairs the model read (each cut to its limit), or null when not counted. */
  tokens: number | null;
}

interface Work {
  controller: AbortController;
  cause?: AbortCause;
  timer?: NodeJS.Timeout;
}

/** Header a client uses to ask for a shorter deadline than the server's. */
export const DEADLINE_HEADER = 'x-request-timeout-ms';

/** Tokenize at most this many characters per native call: bounds the transient encodings. */
const MEASURE_CHARS = 1 << 20;

export class Service {
  state: ServerState = 'loading';
  models: Models = {};
  /** The name answers report for the model (hub id or directory name). */
  modelId = 'crossrank';
  readonly #works = new Map<FastifyRequest, Work>();

  constructor(
    readonly limits: ServerLimits,
    readonly admission: Admission,
    readonly metrics: Metrics,
    readonly autoTruncate: boolean,
    readonly deadlineMs: number,
  ) {}

  /** Requests doing (or waiting for) model work now. */
  get inFlight(): number {
    return this.#works.size;
  }

  abortCause(req: FastifyRequest): AbortCause | undefined {
    return this.#works.get(req)?.cause;
  }

  need<K extends 'reranker' | 'embedder' | 'collection'>(what: K, route: string): NonNullable<Models[K]> {
    const m = this.models[what];
    if (m) return m as NonNullable<Models[K]>;
    if (this.state === 'loading') throw loading();
    throw new HttpError(404, 'Unavailable', 'ERR_NOT_CONFIGURED', `${route} needs a ${what}; this server was started without one`);
  }

  /** Start a request's work: its signal fires when the client leaves or the deadline passes. */
  #begin(req: FastifyRequest, reply: FastifyReply): Work {
    let ms = this.deadlineMs;
    const asked = req.headers[DEADLINE_HEADER];
    if (asked !== undefined) {
      const v = Number(asked);
      if (typeof asked !== 'string' || !/^\d+$/.test(asked) || v < 1) {
        throw validation('ERR_VALIDATION', `header ${DEADLINE_HEADER} must be a positive integer of milliseconds (got ${JSON.stringify(asked).slice(0, 40)})`);
      }
      ms = Math.min(ms, v);
    }
    const w: Work = { controller: new AbortController() };
    const abort = (cause: AbortCause) => {
      if (w.controller.signal.aborted) return;
      w.cause = cause;
      w.controller.abort(new Error(cause));
    };
    // The deadline counts from the request's arrival (reply.elapsedTime), body upload included.
    w.timer = setTimeout(() => abort('deadline'), Math.max(0, ms - reply.elapsedTime));
    reply.raw.on('close', () => {
      clearTimeout(w.timer);
      if (!reply.raw.writableFinished) abort('client');
      this.#works.delete(req);
    });
    this.#works.set(req, w);
    return w;
  }

  /** Run `fn` for this request once admitted, with its signal. */
  async run<T>(req: FastifyRequest, reply: FastifyReply, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const w = this.#begin(req, reply);
    const release = await this.admission.acquire(w.controller.signal);
    try {
      return await fn(w.controller.signal);
    } finally {
      release();
    }
  }

  /** Draining: abort every request still at work (they answer 503). */
  abortAll(): void {
    for (const w of this.#works.values()) {
      if (!w.controller.signal.aborted) {
        w.cause = 'drain';
        w.controller.abort(new Error('drain'));
      }
    }
  }

  /**
   * The reranker a request names. With one reranker, any name reaches it (Cohere's clients always
   * send some model name); with several, the name must be one of them (404 listing them).
   */
  pick(route: string, model: string | undefined): NamedReranker {
    const scorer = this.need('reranker', route);
    const named = this.models.rerankers;
    if (model === undefined || !named || named.size <= 1) return { scorer, ...(this.models.rerankerTokenizer ? { tokenizer: this.models.rerankerTokenizer } : {}) };
    const r = named.get(model);
    if (r) return r;
    const models = [...named.keys()];
    throw new HttpError(404, 'NotFound', 'ERR_MODEL_NOT_FOUND', `model ${JSON.stringify(model.slice(0, 256))} is not served here; the rerankers are: ${models.map((m) => JSON.stringify(m)).join(', ')}`, { models });
  }

  /** Rerank with the configured scorer: limits that need tokens are checked before any scoring. */
  rerank(req: FastifyRequest, reply: FastifyReply, call: RerankCall): Promise<RerankOutcome> {
    const { scorer, tokenizer: tok } = this.pick(call.route, call.model);
    if (call.texts.length === 0) throw validation('ERR_EMPTY_INPUT', '`texts` / `documents` cannot be empty');
    return this.run(req, reply, async (signal) => {
      let texts = call.texts;
      let lengths: { query: number; docs: Uint32Array } | null = null;
      if (tok && (!call.truncate || call.maxTokensPerDoc !== undefined || call.countTokens)) {
        const m = await measure(tok, [call.query, ...call.texts], call.maxTokensPerDoc);
        lengths = { query: m.counts[0]!, docs: m.counts.subarray(1) };
        if (call.maxTokensPerDoc !== undefined) {
          texts = call.texts.map((t, i) => (m.cuts[i + 1] === undefined ? t : t.slice(0, m.cuts[i + 1])));
          lengths.docs = lengths.docs.map((d) => Math.min(d, call.maxTokensPerDoc!));
        }
        if (!call.truncate) overLimit(scorer.maxLength, lengths.docs.map((d) => lengths!.query + d + tok.specialTokens.pair));
      }
      if (signal.aborted) throw abortError(signal);
      const results = await scorer.rerank(call.query, texts, { signal, ...(call.maxChunks ? { chunking: { maxChunks: call.maxChunks } } : {}) });
      this.metrics.pairs.inc(texts.length);
      this.metrics.documents.observe(texts.length);
      if (!call.truncate && !tok) {
        // No tokenizer on this side (a remote scorer): the scorer reports what it had to cut.
        const cut = results.filter((r) => r.truncated).map((r) => r.index).sort((a, b) => a - b);
        if (cut.length) throw tooLong(scorer.maxLength, cut, null);
      }
      let tokens: number | null = null;
      if (lengths && call.countTokens && tok) {
        const sp = tok.specialTokens.pair;
        const stride = call.maxChunks ? (resolveChunking({ maxChunks: call.maxChunks }, 'chunking') || { stride: 0 }).stride : 0;
        tokens = 0;
        for (const r of results) {
          const d = lengths.docs[r.index]!;
          const c = r.chunk?.count ?? 1;
          tokens += Math.min(c * scorer.maxLength, c * (lengths.query + sp) + d + (c - 1) * stride);
        }
      }
      return { results, tokens };
    });
  }

  /** Embed with the configured bi-encoder; `truncate: false` refuses inputs over its limit (tokenized first). */
  embed(req: FastifyRequest, reply: FastifyReply, inputs: string[], truncate: boolean): Promise<Float32Array> {
    const bi = this.need('embedder', '/embed');
    if (inputs.length === 0) throw validation('ERR_EMPTY_INPUT', '`inputs` cannot be empty');
    return this.run(req, reply, async (signal) => {
      if (!truncate) {
        const m = await measure(bi.tokenizer, inputs);
        overLimit(bi.maxLength, m.counts.map((c) => c + bi.tokenizer.specialTokens.single));
      }
      return bi.embed(inputs, { signal });
    });
  }
}

/** 413 naming the inputs whose token count exceeds the model's limit. */
function overLimit(maxLength: number, tokens: ArrayLike<number>): void {
  const indices: number[] = [];
  let longest = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]! > maxLength) {
      indices.push(i);
      longest = Math.max(longest, tokens[i]!);
    }
  }
  if (indices.length) throw tooLong(maxLength, indices, longest);
}

function tooLong(maxLength: number, indices: number[], longest: number | null): HttpError {
  const list = `${indices.slice(0, 20).join(', ')}${indices.length > 20 ? ', …' : ''}`;
  const value = longest === null ? '' : ` (longest ${longest})`;
  return new HttpError(413, 'Validation', 'ERR_INPUT_TOO_LONG', `inputs ${list} exceed the model's limit of ${maxLength} tokens${value} and truncate is false`, {
    indices,
    limit: 'max_input_length',
    ...(longest === null ? {} : { value: longest }),
    maximum: maxLength,
  });
}

/**
 * Token count of each text (no special tokens, nothing cut), tokenized in groups of at most
 * MEASURE_CHARS characters; with `cutAt`, the UTF-16 offset that keeps a text's first `cutAt` tokens.
 */
async function measure(tok: Tokenizer, texts: string[], cutAt?: number): Promise<{ counts: Uint32Array; cuts: (number | undefined)[] }> {
  const counts = new Uint32Array(texts.length);
  const cuts: (number | undefined)[] = new Array(texts.length);
  for (let a = 0; a < texts.length; ) {
    let b = a;
    let chars = 0;
    while (b < texts.length && (b === a || chars + texts[b]!.length <= MEASURE_CHARS)) chars += texts[b++]!.length;
    const encs = await tok.encodeBatch(texts.slice(a, b), { truncation: false, addSpecialTokens: false });
    encs.forEach((e, j) => {
      counts[a + j] = e.ids.length;
      if (cutAt !== undefined && e.ids.length > cutAt) cuts[a + j] = e.offsets[2 * cutAt - 1];
    });
    a = b;
  }
  return { counts, cuts };
}
