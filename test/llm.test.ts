// LlmReranker against a local OpenAI-compatible server (test/fixtures/llm-server.ts) reached through
// the official `openai` client: the prompt sent, answer parsing that never loses or repeats a
// document (adversarial answers, property-tested), retries/timeouts/abort, FIRST log-probabilities,
// and an oracle on ArguAna that shows the sliding window bringing every relevant candidate up.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  Bm25Index,
  CrossEncoder,
  LlmRerankError,
  LlmReranker,
  loadBeir,
  ndcgAt,
  recallAt,
  Tokenizer,
  type LlmRerankerOptions,
  type Reranker,
} from '../src/index.js';
import { parseRanking, slidingWindows } from '../src/rerankers/llm.js';
import { passagesOf, startLlmServer, type ChatRequest, type LlmServer, type Reply } from './fixtures/llm-server.js';
import { errorOf, rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

let server: LlmServer;
beforeAll(async () => {
  server = await startLlmServer(() => ({ content: '' }));
});
afterAll(() => server?.close());
afterEach(() => {
  server.requests.length = 0;
  server.dropped = 0;
  server.maxInFlight = 0;
});

const make = (o: Partial<LlmRerankerOptions> = {}) => new LlmReranker({ baseURL: server.url, model: 'test-model', retryBaseMs: 1, ...o });
/** Documents "d0" … "d{n-1}" whose text names them, so an answer can be checked against the prompt. */
const docsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `d${i}`, text: `passage number ${i} words` }));
const numbered = (req: ChatRequest) => passagesOf(req).map((p) => Number(/passage number (\d+)/.exec(p)?.[1]));
/** An answer listing the shown passages by descending document number. */
const descending = (req: ChatRequest): Reply => {
  const shown = numbered(req);
  const order = shown.map((d, i) => [d, i + 1] as const).sort((a, b) => b[0] - a[0]);
  return { content: order.map(([, id]) => `[${id}]`).join(' > ') };
};
const isPermutation = (idx: number[], n: number) => idx.length === n && new Set(idx).size === n && idx.every((i) => Number.isInteger(i) && i >= 0 && i < n);

describe('sliding windows', () => {
  it('RankGPT defaults on 100 candidates: 9 windows from the bottom up, the last at the head', () => {
    const w = slidingWindows(100, 20, 10);
    expect(w).toEqual([[80, 100], [70, 90], [60, 80], [50, 70], [40, 60], [30, 50], [20, 40], [10, 30], [0, 20]]);
  });

  it('for any n, window and step: contiguous cover, full windows moving by step, the last one at the head', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 40 }), (n, window, s) => {
        const step = Math.min(s, window);
        const w = slidingWindows(n, window, step);
        if (n <= 1) return w.length === 0;
        const covered = new Set<number>();
        for (const [a, b] of w) for (let i = a; i < b; i++) covered.add(i);
        return (
          w[0]![1] === n &&
          w[w.length - 1]![0] === 0 &&
          covered.size === n &&
          w[w.length - 1]![1] === Math.min(n, window) &&
          w.every(([a, b], i) => b - a === Math.min(n, window) && (i === 0 || i === w.length - 1 || b === w[i - 1]![1] - step))
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe('answer parsing', () => {
  const order = (answer: string, n: number) => parseRanking(answer, n);
  it('clean answers, lookalike digits, thinking, repairs and the unparsable', () => {
    expect(order('[3] > [1] > [2]', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });
    expect(order('［３］ > ［１］ > ［２］', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // fullwidth
    expect(order('[٣] > [١] > [٢]', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // Arabic-Indic
    expect(order('[३] > [१] > [२]', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // Devanagari
    expect(order('[𝟑] > [𝟏] > [𝟐]', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // mathematical bold
    expect(order('③ > ① > ②', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // circled
    expect(order('[1２] > [11]', 12).order.slice(0, 2)).toEqual([11, 10]);  // mixed forms in one number
    expect(order('<think>[1] is weak, [2] better, maybe [3]</think>[3] > [2] > [1]', 3)).toEqual({ order: [2, 1, 0], status: 'ok' });
    expect(order('reasoning that lost its opening tag [1] [2]</think> [2] > [3] > [1]', 3)).toEqual({ order: [1, 2, 0], status: 'ok' });
    expect(order('<think>still thinking about [2] when the tokens ran out', 3)).toEqual({ order: [0, 1, 2], status: 'unparsable' });
    expect(order('1. [3]\n2. [1]\n3. [2]', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // list numbers ignored
    expect(order('[2] > [2] > [1] > [2]', 3)).toEqual({ order: [1, 0, 2], status: 'repaired' });
    expect(order('[4] > [0] > [2] > [99999999999999999999]', 3)).toEqual({ order: [1, 0, 2], status: 'repaired' });
    expect(order('[3] > [', 4)).toEqual({ order: [2, 0, 1, 3], status: 'repaired' });  // truncated
    expect(order('', 3)).toEqual({ order: [0, 1, 2], status: 'unparsable' });
    expect(order('I cannot rank these passages.', 3)).toEqual({ order: [0, 1, 2], status: 'unparsable' });
    expect(order('3 > 1 > 2', 3)).toEqual({ order: [2, 0, 1], status: 'ok' });  // no brackets at all
  });

  it('any text whatever: the order is a permutation of the window', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.integer({ min: 1, max: 30 }), (s, n) => isPermutation(parseRanking(s, n).order, n)),
      { numRuns: 3000 },
    );
  });
});

/** Adversarial answers, written against the window the server was shown. */
const adversary = fc.oneof(
  fc.constant('empty'),
  fc.constant('garbage'),
  fc.constant('duplicates'),
  fc.constant('out-of-range'),
  fc.constant('missing'),
  fc.constant('lookalike'),
  fc.constant('think'),
  fc.constant('truncated'),
  fc.constant('clean'),
);
function adversarialAnswer(kind: string, w: number, rnd: () => number): string {
  const ids = Array.from({ length: w }, (_, i) => i + 1).sort(() => rnd() - 0.5);
  const list = (xs: number[]) => xs.map((x) => `[${x}]`).join(' > ');
  switch (kind) {
    case 'empty':
      return '';
    case 'garbage':
      return 'The passages are all relevant in their own way; I would rather not choose.';
    case 'duplicates':
      return list([...ids.slice(0, 3), ...ids.slice(0, 3), ...ids]);
    case 'out-of-range':
      return list([0, w + 1, ...ids.slice(0, Math.ceil(w / 2)), 1000, -3]);
    case 'missing':
      return list(ids.slice(0, Math.floor(w / 2)));
    case 'lookalike':
      return list(ids).replace(/\d/g, (d) => String.fromCodePoint([0xff10, 0x0660, 0x0966, 0x1d7ce][Math.floor(rnd() * 4)]! + Number(d)));
    case 'think':
      return `<think>${list(ids.slice().reverse())}</think>${list(ids)}`;
    case 'truncated': {
      const s = list(ids);
      return s.slice(0, Math.floor(rnd() * s.length));
    }
    default:
      return list(ids);
  }
}

describe('LlmReranker: requests and prompts', () => {
  it('sends RankGPT-style prompts: windows from the bottom up, passages numbered one per line, word cap, temperature 0', async () => {
    server.handler = (req) => ({ content: passagesOf(req).map((_, i) => `[${i + 1}]`).join(' > ') });
    const docs = Array.from({ length: 25 }, (_, i) => `doc${i} ` + 'word '.repeat(20) + '\nsecond line');
    const r = make({ window: 10, step: 5, maxPassageWords: 6 });
    const out = await r.rerank('what is it?', docs);
    expect(out.map((x) => x.index)).toEqual(Array.from({ length: 25 }, (_, i) => i));  // the identity answer keeps the order
    const shown = server.requests.map((q) => passagesOf(q).map((p) => Number(/^doc(\d+)/.exec(p)![1])));
    expect(shown).toEqual([
      [15, 16, 17, 18, 19, 20, 21, 22, 23, 24],
      [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
      [5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    ]);
    const first = server.requests[0]!;
    expect(first.body.model).toBe('test-model');
    expect(first.body.temperature).toBe(0);
    expect(first.body.max_tokens).toBe(8 * 10 + 16);
    expect(first.body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    const user = first.body.messages[1]!.content;
    expect(user).toContain('search query: what is it?');
    expect(user).toContain('\n[1] doc15 word word word word word\n[2] doc16 word word word word word\n');  // 6 words, no inner newline
    expect(user.split('\n').filter((l) => /^\[\d+\] /.test(l))).toHaveLength(10);
  });

  it('templates are overridable; a query holding "{passages}" is not expanded twice', async () => {
    server.handler = () => ({ content: '[2] > [1]' });
    const r = make({ systemPrompt: null, userTemplate: 'Q={query} N={num}\n{passages}\nGo.' });
    const out = await r.rerank('find {passages}', ['alpha', 'beta']);
    expect(out.map((x) => x.index)).toEqual([1, 0]);
    expect(server.requests[0]!.body.messages).toEqual([{ role: 'user', content: 'Q=find {passages} N=2\n[1] alpha\n[2] beta\nGo.' }]);
    const fnTemplate = make({ userTemplate: (p) => `${p.num}|${p.query}|${p.passages}` });
    await fnTemplate.rerank('q', ['x', 'y']);
    expect(server.requests[1]!.body.messages[1]!.content).toBe('2|q|[1] x\n[2] y');
    expect((errorOf(() => make({ userTemplate: 'no passages here' })) as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
    // Extra request fields; they may replace temperature and max_tokens, never the model or messages.
    await make({ request: { seed: 7, temperature: undefined, max_tokens: undefined, max_completion_tokens: 50, model: 'other' } }).rerank('q', ['x', 'y']);
    const body = server.requests[2]!.body;
    expect(body).toMatchObject({ seed: 7, max_completion_tokens: 50, model: 'test-model' });
    expect('temperature' in body || 'max_tokens' in body).toBe(false);
  });

  it('fits each prompt to the context with the model tokenizer, lowering the word cap only as far as needed', async () => {
    server.handler = () => ({ content: '[1]' });
    const tok = Tokenizer.fromFile(requireShared('fixtures/tokenizers/bert-uncased/tokenizer.json'));
    const count = (t: string) => tok.encode(t, null, { addSpecialTokens: false, truncation: false }).ids.length;
    const docs = Array.from({ length: 10 }, (_, i) => `passage ${i} ` + 'relevant text about things '.repeat(40));
    const r = make({ window: 10, context: { tokens: 700, count: tok, reserve: 100 } });
    const { stats } = await r.rerankDetailed('query', docs);
    expect(stats.fittedWindows).toBe(1);
    const sent = server.requests[0]!.body.messages;
    const used = sent.reduce((s, m) => s + 8 + count(m.content), 0);
    expect(used).toBeLessThanOrEqual(600);
    const cap = passagesOf(server.requests[0]!)[0]!.split(' ').length;
    expect(cap).toBeLessThan(300);
    // One more word per passage would not have fitted.
    const longer = sent[1]!.content.replace(/^\[(\d+)\] (.*)$/gm, (_, i: string, p: string) => `[${i}] ${docs[Number(i) - 1]!.split(/\s+/).slice(0, cap + 1).join(' ')}`);
    expect(8 + count(sent[0]!.content) + 8 + count(longer)).toBeGreaterThan(600);
    // Too small for any passage text: a configuration error, never skipped as a failed window.
    const tiny = make({ window: 10, context: { tokens: 60, count: tok, reserve: 10 }, onWindowError: 'keep' });
    expect((await rejectionOf(tiny.rerank('query', docs))).code).toBe('ERR_PROMPT_TOO_LONG');
  });

  it('reports calls and token usage per rerank and in totals; ids, documents and topK as CrossEncoder.rerank', async () => {
    server.handler = descending;
    const r = make({ window: 4, step: 2 });
    const docs = docsOf(9);
    const { results, stats } = await r.rerankDetailed('q', docs, { topK: 3, returnDocuments: true });
    // Windows [5,9) [3,7) [1,5) [0,4): the overlap of 2 carries the two largest to the top, then d2.
    expect(results.map((x) => x.id)).toEqual(['d8', 'd7', 'd2']);
    expect(results[0]).toEqual({ index: 8, id: 'd8', score: 1, logit: 1, document: docs[8] });
    expect(results[1]!.score).toBeCloseTo(8 / 9, 12);
    expect(stats.windows).toBe(slidingWindows(9, 4, 2).length);
    expect(stats.calls).toBe(stats.windows);
    expect(stats.retries).toBe(0);
    const words = server.requests.reduce((s, q) => s + q.body.messages.reduce((t, m) => t + m.content.split(/\s+/).filter(Boolean).length, 0), 0);
    expect(stats.promptTokens).toBe(words);  // the fixture counts words as tokens
    expect(stats.totalTokens).toBe(stats.promptTokens + stats.completionTokens);
    await r.rerank('q', docsOf(2));
    expect(r.totals.windows).toBe(stats.windows + 1);
    expect(await r.rerank('q', [])).toEqual([]);
    expect(server.requests).toHaveLength(stats.windows + 1);  // one document or none: no request
    expect(await r.rerank('q', ['only'])).toEqual([{ index: 0, score: 1, logit: 1 }]);
  });

  it('depth: only the first `depth` documents are reranked, the rest follow in input order', async () => {
    server.handler = descending;
    const out = await make({ window: 4, step: 2, depth: 6 }).rerank('q', docsOf(10));
    // Windows [2,6) then [0,4): 5 4 3 2 at positions 2-5, then 0 1 5 4 sorted.
    expect(out.map((x) => x.index)).toEqual([5, 4, 1, 0, 3, 2, 6, 7, 8, 9]);
    expect(Math.max(...server.requests.flatMap(numbered))).toBe(5);
  });

  it('satisfies the Reranker interface like CrossEncoder: one caller takes either', async () => {
    server.handler = descending;
    const ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'));
    const top2 = (r: Reranker) => r.rerank('q', docsOf(4), { topK: 2 });
    const [a, b] = [await top2(make()), await top2(ce)];
    expect(a.map((x) => x.id)).toEqual(['d3', 'd2']);
    expect(b).toHaveLength(2);
    expect(b.every((x) => typeof x.index === 'number' && typeof x.score === 'number' && x.id !== undefined)).toBe(true);
    ce.dispose();
  });
});

describe('LlmReranker: adversarial answers never lose or repeat a document', () => {
  it('every kind of bad answer, at random over random lists, windows and steps: a permutation of the input', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 45 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(adversary, { minLength: 1, maxLength: 12 }),
        fc.integer(),
        async (n, window, s, kinds, seed) => {
          let x = seed | 1;
          const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
          server.handler = (req, i) => ({ content: adversarialAnswer(kinds[i % kinds.length]!, passagesOf(req).length, rnd) });
          server.requests.length = 0;
          const step = Math.min(s, window);
          const docs = docsOf(n);
          const { results, stats } = await make({ window, step }).rerankDetailed('q', docs);
          const idx = results.map((r) => r.index);
          expect(isPermutation(idx, n)).toBe(true);
          expect(results.map((r) => r.id)).toEqual(idx.map((i) => `d${i}`));
          expect(stats.windows).toBe(slidingWindows(n, window, step).length);
          const bad = kinds.filter((k) => k === 'empty' || k === 'garbage').length;
          if (bad === kinds.length && stats.windows > 0) expect(stats.unparsable).toBe(stats.windows);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('counts repaired and unparsable answers', async () => {
    const answers = ['', '[2] > [2]', '[1] > [2] > [3] > [4]'];
    server.handler = (_, i) => ({ content: answers[i % 3]! });
    const { stats, results } = await make({ window: 4, step: 2 }).rerankDetailed('q', docsOf(8));
    expect(stats.windows).toBe(3);
    expect(stats.unparsable).toBe(1);
    expect(stats.repaired).toBe(1);
    // Window [4,8) unparsable: kept. Window [2,6): "[2]" → position 3 first. Window [0,4): identity.
    expect(results.map((r) => r.index)).toEqual([0, 1, 3, 2, 4, 5, 6, 7]);
  });
});

describe('LlmReranker: failures, retries, timeouts, abort and concurrency', () => {
  it('429 and 500 are retried (Retry-After honoured) and counted', async () => {
    server.handler = (req, i) =>
      i === 0 ? { status: 429, content: 'slow down', headers: { 'retry-after-ms': '5' } } : i === 1 ? { status: 503, content: 'busy' } : descending(req);
    const { results, stats } = await make().rerankDetailed('q', docsOf(3));
    expect(results.map((r) => r.index)).toEqual([2, 1, 0]);
    expect(stats).toMatchObject({ windows: 1, calls: 3, retries: 2 });
  });

  it('after the last retry: LlmRerankError with the status and the complete order reached so far', async () => {
    // Window [6,10) succeeds, then every request fails.
    server.handler = (req, i) => (i === 0 ? descending(req) : { status: 500, content: 'model crashed' });
    const e = (await rejectionOf(make({ window: 4, step: 2, maxRetries: 2 }).rerank('q', docsOf(10)))) as LlmRerankError;
    expect(e).toBeInstanceOf(LlmRerankError);
    expect(e.code).toBe('ERR_LLM_SERVER');
    expect(e.status).toBe(500);
    expect(e.message).toContain('model crashed');
    expect(e.stats).toMatchObject({ windows: 2, calls: 4, retries: 2 });
    expect(server.requests).toHaveLength(4);
    expect(e.results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 9, 8, 7, 6]);
  });

  it("onWindowError 'keep': a failed window keeps its order and the rest is ranked", async () => {
    server.handler = (req, i) => (i === 0 ? { status: 400, content: 'bad request' } : descending(req));
    const { results, stats } = await make({ window: 4, step: 2, onWindowError: 'keep' }).rerankDetailed('q', docsOf(6));
    expect(stats).toMatchObject({ windows: 2, calls: 2, retries: 0, failedWindows: 1 });  // 400 is not retried
    // Window [2,6) failed and kept its order; window [0,4) ranked.
    expect(results.map((r) => r.index)).toEqual([3, 2, 1, 0, 4, 5]);
  });

  it('timeouts are retried, then ERR_LLM_TIMEOUT; a Retry-After beyond retryMaxMs is capped', async () => {
    server.handler = () => ({ delayMs: 2000, content: '[1]' });
    const e = await rejectionOf(make({ timeoutMs: 100, maxRetries: 1 }).rerank('q', ['a', 'b']));
    expect(e.code).toBe('ERR_LLM_TIMEOUT');
    expect(server.requests).toHaveLength(2);
    server.requests.length = 0;
    server.handler = (req, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '3600' } } : descending(req));
    const out = await make({ retryMaxMs: 20 }).rerank('q', docsOf(2));  // would wait an hour uncapped
    expect(out.map((r) => r.index)).toEqual([1, 0]);
  });

  it('abort: in flight (the server sees the connection dropped) and during a retry wait', async () => {
    server.handler = () => ({ hang: true });
    const ac = new AbortController();
    const p = make().rerank('q', ['a', 'b'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await rejectionOf(p);
    expect(e.code).toBe('ABORT_ERR');
    expect(e.name).toBe('AbortError');
    await vi.waitFor(() => expect(server.dropped).toBe(1), { timeout: 5000 });
    const ac2 = new AbortController();
    server.handler = () => {
      setTimeout(() => ac2.abort(), 20);  // while the client waits to retry
      return { status: 429, headers: { 'retry-after': '60' } };
    };
    const p2 = make({ retryMaxMs: 60_000 }).rerank('q', ['a', 'b'], { signal: ac2.signal });
    expect((await rejectionOf(p2)).code).toBe('ABORT_ERR');  // not after the 60 s the server asked for
    expect((await rejectionOf(make().rerank('q', ['a', 'b'], { signal: AbortSignal.abort() }))).code).toBe('ABORT_ERR');
  });

  it('maxConcurrency bounds requests in flight across rerank calls', async () => {
    server.handler = (req) => ({ ...descending(req), delayMs: 100 });
    const r = make({ maxConcurrency: 2 });
    const all = await Promise.all(Array.from({ length: 6 }, () => r.rerank('q', docsOf(3))));
    expect(all.every((x) => x.map((y) => y.index).join() === '2,1,0')).toBe(true);
    expect(server.maxInFlight).toBe(2);
  });
});

describe('LlmReranker: FIRST (single-token) mode', () => {
  const lp = (token: string, top: [string, number][]) => ({ token, logprob: top[0]![1], top_logprobs: top.map(([t, l]) => ({ token: t, logprob: l })) });

  it('orders a window by the log-probabilities of the first identifier after "["', async () => {
    server.handler = () => ({
      content: '[2] > [3]',
      logprobs: [lp('[', [['[', -0.01]]), lp('2', [['2', -0.2], ['4', -0.9], ['1', -2.5], [' 3', -1.7]]), lp(']', [[']', 0]])],
    });
    const { results, stats } = await make({ mode: 'first' }).rerankDetailed('q', docsOf(4));
    expect(results.map((r) => r.index)).toEqual([1, 3, 2, 0]);
    expect(results.map((r) => r.logprob)).toEqual([-0.2, -0.9, -1.7, -2.5]);
    expect(stats.logprobFallbacks).toBe(0);
    const body = server.requests[0]!.body;
    expect(body.logprobs).toBe(true);
    expect(body.top_logprobs).toBe(4);
    expect(body.max_tokens).toBe(4);
    // A tokenizer that joins "[" and the digit, and lookalike digits in the alternatives.
    server.handler = () => ({ content: '[3', logprobs: [lp('[3', [['[3', -0.1], ['[１', -0.5]])] });
    expect((await make({ mode: 'first' }).rerank('q', docsOf(3))).map((r) => r.index)).toEqual([2, 0, 1]);
  });

  it('without log-probabilities the text answer is used and the fallback counted', async () => {
    server.handler = () => ({ content: '[3] > [1] > [2]' });
    const { results, stats } = await make({ mode: 'first' }).rerankDetailed('q', docsOf(3));
    expect(results.map((r) => r.index)).toEqual([2, 0, 1]);
    expect(stats.logprobFallbacks).toBe(1);
  });

  it('the window is limited to identifiers that are single tokens', () => {
    const digitsAreTokens = (t: string) => t.length;  // every digit its own token: "10" is two
    const e = errorOf(() => make({ mode: 'first', window: 12, context: { tokens: 4096, count: digitsAreTokens } }));
    expect((e as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');
    expect(e.message).toContain('at most 9');
    expect(() => make({ mode: 'first', window: 9, step: 4, context: { tokens: 4096, count: digitsAreTokens } })).not.toThrow();
    const bert = Tokenizer.fromFile(requireShared('fixtures/tokenizers/bert-uncased/tokenizer.json'));
    expect(() => make({ mode: 'first', window: 20, context: { tokens: 512, count: bert } })).not.toThrow();
    expect((errorOf(() => make({ mode: 'first', window: 21 })) as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');  // top_logprobs ≤ 20
  });
});

describe('LlmReranker: API key and options', () => {
  it('takes the key from the option or the environment, sends it only as the bearer token, never shows it', async () => {
    server.handler = () => ({ status: 401, content: 'Incorrect API key provided: sk-test-SECRET-123' });
    const saved = { a: process.env.CROSSRANK_LLM_API_KEY, b: process.env.OPENAI_API_KEY };
    try {
      process.env.OPENAI_API_KEY = 'sk-openai-env';
      process.env.CROSSRANK_LLM_API_KEY = 'sk-test-SECRET-123';
      const r = make();
      const e = await rejectionOf(r.rerank('q', ['a', 'b']));
      expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-test-SECRET-123');
      expect(e.code).toBe('ERR_LLM_REQUEST');
      expect((e as { status?: number }).status).toBe(401);
      expect(e.message).not.toContain('SECRET');
      expect(e.message).toContain('***');
      expect(inspect(r, { depth: 10, showHidden: true })).not.toContain('SECRET');
      delete process.env.CROSSRANK_LLM_API_KEY;
      server.handler = descending;
      await make().rerank('q', docsOf(2));
      expect(server.requests[1]!.headers.authorization).toBe('Bearer sk-openai-env');
      await make({ apiKey: 'sk-option' }).rerank('q', docsOf(2));
      expect(server.requests[2]!.headers.authorization).toBe('Bearer sk-option');
      delete process.env.OPENAI_API_KEY;
      expect((errorOf(() => new LlmReranker({ model: 'm' })) as { code?: string }).code).toBe('ERR_LLM_API_KEY');
      expect(() => make()).not.toThrow();  // a local endpoint needs no key
    } finally {
      for (const [k, v] of [['CROSSRANK_LLM_API_KEY', saved.a], ['OPENAI_API_KEY', saved.b]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('rejects bad options and arguments with typed errors', async () => {
    const code = (o: Partial<LlmRerankerOptions>) => (errorOf(() => make(o)) as { code?: string }).code;
    expect(code({ model: 5 as never })).toBe('ERR_INVALID_ARG_TYPE');
    expect(code({ window: 1 })).toBe('ERR_OUT_OF_RANGE');
    expect(code({ window: 10, step: 11 })).toBe('ERR_OUT_OF_RANGE');
    expect(code({ mode: 'pairwise' as never })).toBe('ERR_INVALID_ARG_TYPE');
    expect(code({ maxConcurrency: 0 })).toBe('ERR_OUT_OF_RANGE');
    expect(code({ context: { tokens: 100, count: 'x' as never } })).toBe('ERR_INVALID_ARG_TYPE');
    expect(code({ client: {} as never })).toBe('ERR_INVALID_ARG_TYPE');
    const r = make();
    expect((await rejectionOf(r.rerank(1 as never, []))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejectionOf(r.rerank('q', [3 as never]))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejectionOf(r.rerank('q', ['a'], { topK: 0 }))).code).toBe('ERR_OUT_OF_RANGE');
  });
});

describe('LlmReranker on ArguAna: an oracle endpoint that orders what it is shown by the qrels', () => {
  it('with 100 BM25 candidates the sliding window brings every relevant candidate into the top 10', async () => {
    const data = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    const texts = data.docs.map((d) => `${d.title} ${d.text}`);
    const position = new Map(data.docs.map((d, i) => [d.id, i]));
    const bm25 = Bm25Index.create();
    await bm25.add(texts);
    // The oracle recognises a passage by its (word-capped) text, as the prompt carries it.
    const cap = (t: string) => t.split(/\s+/).filter(Boolean).slice(0, 300).join(' ');
    const idsByText = new Map<string, string[]>();
    data.docs.forEach((d, i) => idsByText.set(cap(texts[i]!), [...(idsByText.get(cap(texts[i]!)) ?? []), d.id]));
    // ArguAna repeats some query texts under different ids: the query id travels in the request's
    // `user` field (set through options.request), the passages in the default prompt.
    server.handler = (req) => {
      const rel = data.qrels.get(req.body.user as string)!;
      const grade = (p: string) => Math.max(0, ...(idsByText.get(p) ?? []).map((id) => rel.get(id) ?? 0));
      const shown = passagesOf(req).map((p, i) => ({ i, g: grade(p) }));
      shown.sort((a, b) => b.g - a.g || a.i - b.i);
      return { content: shown.map((s) => `[${s.i + 1}]`).join(' > ') };
    };
    const queries = data.queries.filter((q) => data.qrels.has(q.id)).slice(0, 300);
    const hits = await bm25.searchBatch(queries.map((q) => q.text), 101);
    const sums = { bm25: 0, llm: 0, ideal: 0, recall: 0 };
    let relevantInCandidates = 0;
    let broughtUp = 0;
    let windows = 0;
    const run = async (qi: number) => {
      const q = queries[qi]!;
      const rel = data.qrels.get(q.id)!;
      // As BEIR does for ArguAna, the query's own argument is not a result.
      const cands = Array.from(hits[qi]!.docs, (d) => data.docs[d]!.id).filter((id) => id !== q.id).slice(0, 100);
      const r = make({ request: { user: q.id } });
      const { results, stats } = await r.rerankDetailed(q.text, cands.map((id) => ({ id, text: cap(texts[position.get(id)!]!) })));
      windows += stats.windows;
      const reranked = results.map((x) => x.id as string);
      expect(isPermutation(results.map((x) => x.index), cands.length)).toBe(true);
      const ideal = [...cands].sort((a, b) => (rel.get(b) ?? 0) - (rel.get(a) ?? 0));
      const relHere = cands.filter((id) => rel.has(id));
      relevantInCandidates += relHere.length;
      broughtUp += relHere.filter((id) => reranked.slice(0, 10).includes(id)).length;
      expect(reranked.slice(0, 10)).toEqual(expect.arrayContaining(relHere.slice(0, 10)));
      expect(ndcgAt(reranked, rel, 10)).toBeCloseTo(ndcgAt(ideal, rel, 10), 12);
      sums.bm25 += ndcgAt(cands, rel, 10);
      sums.llm += ndcgAt(reranked, rel, 10);
      sums.ideal += ndcgAt(ideal, rel, 10);
      sums.recall += recallAt(cands, rel, 100);
    };
    for (let a = 0; a < queries.length; a += 16) await Promise.all(Array.from({ length: Math.min(16, queries.length - a) }, (_, j) => run(a + j)));
    const n = queries.length;
    console.log(
      `ArguAna, ${n} queries, 100 BM25 candidates, window 20 step 10 (${windows} requests): nDCG@10 BM25 ${(sums.bm25 / n).toFixed(4)}, ` +
        `LLM oracle ${(sums.llm / n).toFixed(4)}, ideal over the candidates ${(sums.ideal / n).toFixed(4)} (recall@100 ${(sums.recall / n).toFixed(4)}); ` +
        `relevant candidates brought into the top 10: ${broughtUp} of ${relevantInCandidates}`,
    );
    expect(windows).toBe(9 * n);
    expect(broughtUp).toBe(relevantInCandidates);
    expect(sums.llm).toBeCloseTo(sums.ideal, 9);
    expect(sums.llm / n).toBeGreaterThan(sums.bm25 / n);
  }, 600_000);
});
