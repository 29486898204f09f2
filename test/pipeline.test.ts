// Pipeline: any first stage → rerank stages → top k. The same reranked top 10 over pgvector (PGlite
// through `pg`) and over a Collection on the same vectors; a cascade equals its stages run by hand;
// the latency planner keeps each stated budget on a controlled clock; abort; stage reports and
// timings; evaluate() over a function retriever against metrics worked out by hand.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import {
  BiEncoder,
  Collection,
  CollectionRetriever,
  createPgvectorIndex,
  CrossEncoder,
  evaluate,
  functionRetriever,
  loadBeir,
  LlmReranker,
  PgvectorRetriever,
  Pipeline,
  RerankPool,
  upsertPgvector,
  type Candidate,
  type IrCollection,
  type RerankResult,
} from '../src/index.js';
import { passagesOf, startLlmServer } from './fixtures/llm-server.js';
import { errorOf, rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

let data: IrCollection;
let docs: { id: string; text: string; metadata: { title: string } }[];
let bi: BiEncoder;
let ce: CrossEncoder;
let dir: string;
let col: Collection;
let db: PGlite;
let server: PGLiteSocketServer;
let pool: pg.Pool;

beforeAll(async () => {
  data = loadBeir(requireShared('fixtures/ir/beir-arguana'));
  docs = data.docs.slice(0, 400).map((d) => ({ id: d.id, text: `${d.title} ${d.text}`, metadata: { title: d.title } }));
  bi = await BiEncoder.load(requireShared('models/bert-tiny-bi'), { maxLength: 128 });
  ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false, maxLength: 128 });
  dir = mkdtempSync(join(tmpdir(), 'crossrank-pipeline-'));
  col = await Collection.create(dir, { embedder: bi, bm25: true });
  await col.add(docs);
  // The same vectors in Postgres (pgvector in PGlite, reached over the wire protocol).
  db = await PGlite.create({ extensions: { vector } });
  server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
  await server.start();
  pool = new pg.Pool({ connectionString: `postgres://postgres@${server.getServerConn()}/postgres`, max: 2 });
  const vecs = await bi.embed(docs.map((d) => d.text));
  await createPgvectorIndex({ pool, table: 'docs', dim: bi.dim, distance: 'ip', index: 'none' });
  await upsertPgvector(docs.map((d, i) => ({ ...d, vector: vecs.subarray(i * bi.dim, (i + 1) * bi.dim) })), { pool, table: 'docs' });
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  await db?.close();
  await col?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const queries = () => data.queries.filter((q) => data.qrels.has(q.id)).slice(0, 5);

describe('Pipeline over pgvector and over a Collection', () => {
  it('the same vectors give the same candidates and the same reranked top 10, in the same result shape', async () => {
    const overPg = new Pipeline({ retriever: new PgvectorRetriever({ pool, table: 'docs', mode: 'dense', embedder: bi, distance: 'ip' }), rerank: ce, candidates: 30 });
    const overCol = new Pipeline({ retriever: new CollectionRetriever(col, { first: 'dense' }), rerank: ce, candidates: 30 });
    for (const q of queries()) {
      const [a, b] = await Promise.all([overPg.search(q.text, { returnFirstStage: true }), overCol.search(q.text, { returnFirstStage: true })]);
      expect(a.candidates).toBe(30);
      expect(new Set(a.firstStage!.map((c) => c.id))).toEqual(new Set(b.firstStage!.map((c) => c.id)));
      expect(a.hits.map((h) => h.id)).toEqual(b.hits.map((h) => h.id));
      a.hits.forEach((h, i) => {
        const o = b.hits[i]!;
        expect(h.score).toBe(o.score);
        expect(h.metadata).toEqual(o.metadata);
        expect(Object.keys(h).sort()).toEqual(Object.keys(o).sort());
        expect([h.stage, h.reranked, h.rank]).toEqual([1, true, i + 1]);
        // Both first stages score by inner product (pgvector in float4, FAISS in float).
        expect(h.firstStageScore).toBeCloseTo(o.firstStageScore, 4);
      });
      // The reranker moved something: the reranked order is not the first stage's.
      expect(a.hits.some((h) => h.firstStageRank !== h.rank)).toBe(true);
    }
  });
});

describe('cascade', () => {
  it('two cross-encoders in sequence give the top k of the second run by hand on the first one\'s top n', async () => {
    const small = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false, maxLength: 48 });
    const retriever = new CollectionRetriever(col, { first: 'bm25' });
    const cascade = new Pipeline({ retriever, candidates: 60, topK: 5, stages: [{ reranker: small, topK: 20, name: 'small' }, { reranker: ce, name: 'large' }] });
    expect(cascade.stageNames).toEqual(['first', 'small', 'large']);
    for (const q of queries().slice(0, 3)) {
      const res = await cascade.search(q.text);
      const first = await retriever.retrieve(q.text, { k: 60 });
      const top20 = (await small.rerank(q.text, first.map((c) => c.text), { topK: 20 })).map((r) => first[r.index]!);
      const byHand = (await ce.rerank(q.text, top20.map((c) => c.text), { topK: 5 })).map((r) => ({ id: top20[r.index]!.id, score: r.score }));
      expect(res.hits.map((h) => ({ id: h.id, score: h.score }))).toEqual(byHand);
      expect(res.hits.every((h) => h.stage === 2 && h.reranked)).toBe(true);
      for (const h of res.hits) expect(first[h.firstStageRank - 1]!.id).toBe(h.id);
      expect(res.stages.map((s) => [s.name, s.candidates, s.reranked, s.kept])).toEqual([
        ['first', 60, 0, 60],
        ['small', 60, 60, 20],
        ['large', 20, 20, 20],
      ]);
    }
  });

  it('a RerankPool and an LlmReranker are stages like any other: pool top 10, then the LLM orders them', async () => {
    const pool = await RerankPool.create(requireShared('models/bert-tiny-cross'), { workers: 1, maxLength: 128 });
    // The "LLM" puts the longest passage first: its answer for the window it is shown.
    const llmServer = await startLlmServer((req) => {
      const shown = passagesOf(req);
      const order = shown.map((_, i) => i).sort((a, b) => shown[b]!.length - shown[a]!.length || a - b);
      return { content: order.map((i) => `[${i + 1}]`).join(' > ') };
    });
    try {
      const llm = new LlmReranker({ baseURL: llmServer.url, model: 'test', maxPassageWords: 10_000 });
      const retriever = new CollectionRetriever(col, { first: 'bm25' });
      const p = new Pipeline({ retriever, candidates: 30, stages: [{ reranker: pool, topK: 10 }, { reranker: llm, name: 'llm' }] });
      const q = queries()[0]!.text;
      const res = await p.search(q);
      const first = await retriever.retrieve(q, { k: 30 });
      const top10 = (await ce.rerank(q, first.map((c) => c.text), { topK: 10 })).map((r) => first[r.index]!);
      const byLength = [...top10].sort((a, b) => b.text.length - a.text.length);
      expect(res.hits.map((h) => h.id)).toEqual(byLength.map((c) => c.id));
      expect(res.hits.every((h) => h.stage === 2)).toBe(true);
      expect(llmServer.requests).toHaveLength(1);
      expect(passagesOf(llmServer.requests[0]!)).toHaveLength(10);
    } finally {
      await pool.close();
      await llmServer.close();
    }
  });

  it('stage reports and timings are consistent: first stage + stages ≤ total, rerankMs their reranker calls', async () => {
    const p = new Pipeline({ retriever: new CollectionRetriever(col, { first: 'hybrid' }), candidates: 40, stages: [{ reranker: ce, topK: 15 }, ce] });
    const res = await p.search(data.queries[1]!.text);
    expect(res.stages).toHaveLength(3);
    expect(res.stages[0]!.ms).toBe(res.timings.firstStageMs);
    const sum = res.stages.reduce((a, s) => a + s.ms, 0);
    expect(sum).toBeLessThanOrEqual(res.timings.totalMs + 1e-9);
    expect(res.timings.rerankMs).toBeCloseTo(res.stages[1]!.rerankMs + res.stages[2]!.rerankMs, 9);
    for (const s of res.stages.slice(1)) {
      expect(s.rerankMs).toBeGreaterThan(0);
      expect(s.rerankMs).toBeLessThanOrEqual(s.ms);
    }
    expect(res.stages.map((s) => s.name)).toEqual(['first', 'rerank1', 'rerank2']);
    expect(res.hits).toHaveLength(10);
  });
});

/** A controlled clock and rerankers whose cost on it is known exactly. */
function clocked() {
  let clock = 0;
  const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
  const tokens = (q: string, t: string) => Math.ceil((q.length + t.length) / 4) + 3;
  const cost = (overhead: number, perToken: number) => (q: string, texts: string[]) => overhead + perToken * texts.reduce((a, t) => a + tokens(q, t), 0);
  const reranker = (c: (q: string, texts: string[]) => number, calls: string[][]) => ({
    async rerank(q: string, texts: readonly string[]): Promise<RerankResult<string>[]> {
      calls.push([...texts]);
      clock += c(q, [...texts]);
      // Reverses what it reads: the order each stage passes on is known.
      return texts.map((_, i) => texts.length - 1 - i).map((index) => ({ index, score: -index, logit: -index }));
    },
  });
  return { advance: (ms: number) => (clock += ms), restore: () => now.mockRestore(), cost, reranker };
}

describe('latency planner on a controlled clock', () => {
  it('each stage keeps its own budget, the last the end-to-end one, and reads as many candidates as fit', async () => {
    const clk = clocked();
    try {
      // Short texts of varied lengths: a few tokens per candidate, many candidates per budget.
      const cands: Candidate[] = docs.slice(0, 50).map((d, i) => ({ id: d.id, text: d.text.slice(0, 150 + 7 * i), score: 50 - i }));
      const retriever = functionRetriever(async (_q, k) => {
        clk.advance(7);
        return cands.slice(0, k);
      });
      const costA = clk.cost(2, 0.01);
      const costB = clk.cost(3, 0.02);
      const callsA: string[][] = [];
      const callsB: string[][] = [];
      const a = clk.reranker(costA, callsA);
      const b = clk.reranker(costB, callsB);
      const pipe = (budgetA: number, total: number) =>
        new Pipeline({ retriever, candidates: 50, topK: 30, latencyBudgetMs: total, stages: [{ reranker: a, topK: 30, latencyBudgetMs: budgetA, name: 'a' }, { reranker: b, name: 'b' }] });
      // Two searches to learn from (each stage calibrates on 4 candidates, then reads all it gets).
      for (const q of data.queries.slice(0, 2)) await pipe(1e6, 1e6).search(q.text.slice(0, 100));
      /** Longest prefix of `texts` whose cost fits `left`, at least 1. */
      const fit = (c: typeof costA, q: string, texts: string[], left: number) => {
        let n = 0;
        while (n < texts.length && c(q, texts.slice(0, n + 1)) <= left) n++;
        return Math.max(1, n);
      };
      let cutA = 0;
      let cutB = 0;
      for (const [i, { text: q }] of data.queries.slice(2, 11).map((x) => ({ text: x.text.slice(0, 100) })).entries()) {
        const budgetA = [8, 20, 40][i % 3]!;
        const total = [30, 60, 120][Math.floor(i / 3)]!;
        callsA.length = 0;
        callsB.length = 0;
        const res = await pipe(budgetA, total).search(q);
        const texts = cands.map((c) => c.text);
        // Stage a plans against the tighter of its own budget and what is left of the search's.
        const nA = fit(costA, q, texts, Math.min(budgetA, total - 7));
        // Stage a's output: what it read, reversed, then the rest; its top 30 go on to stage b.
        const intoB = [...texts.slice(0, nA).reverse(), ...texts.slice(nA)].slice(0, 30);
        const spent = 7 + costA(q, texts.slice(0, nA));
        const nB = fit(costB, q, intoB, total - spent);
        expect(callsA, `query ${i}`).toEqual([texts.slice(0, nA)]);
        expect(callsB, `query ${i}`).toEqual([intoB.slice(0, nB)]);
        expect(res.stages.map((s) => s.reranked)).toEqual([0, nA, nB]);
        expect(res.stages[1]!.ms).toBeLessThanOrEqual(budgetA);
        // The end-to-end budget holds whenever one candidate at least could fit (one is always read).
        if (costB(q, intoB.slice(0, 1)) <= total - spent) expect(res.timings.totalMs).toBeLessThanOrEqual(total);
        expect(res.hits.filter((h) => h.stage === 2)).toHaveLength(nB);
        expect(res.plan).toBe(res.stages[2]!.plan);
        if (nA < 50) cutA++;
        if (nB < 30) cutB++;
      }
      // Budgets that cut each stage short, so the checks above are of real plans.
      expect(cutA).toBeGreaterThan(0);
      expect(cutB).toBeGreaterThan(0);
    } finally {
      clk.restore();
    }
  });
});

describe('abort', () => {
  const cands: Candidate[] = [
    { id: 'a', text: 'alpha', score: 2 },
    { id: 'b', text: 'beta', score: 1 },
  ];
  it('an aborted signal rejects before any work; aborting during the first stage or a reranker that ignores it rejects at once', async () => {
    let retrieved = 0;
    const retriever = functionRetriever(async () => {
      retrieved++;
      return cands;
    });
    const never = { rerank: () => new Promise<RerankResult<string>[]>(() => {}) };
    const p = new Pipeline({ retriever, rerank: never });
    const gone = new AbortController();
    gone.abort();
    expect((await rejectionOf(p.search('q', { signal: gone.signal }))).code).toBe('ABORT_ERR');
    expect(retrieved).toBe(0);
    const ac = new AbortController();
    const pending = p.search('q', { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    expect((await rejectionOf(pending)).code).toBe('ABORT_ERR');
    expect(retrieved).toBe(1);
    const slowFirst = new Pipeline({ retriever: functionRetriever(() => new Promise<Candidate[]>(() => {})) });
    const ac2 = new AbortController();
    const waiting = slowFirst.search('q', { signal: ac2.signal });
    ac2.abort();
    expect((await rejectionOf(waiting)).code).toBe('ABORT_ERR');
  });

  it('bad stages, options and reranker answers are typed errors', async () => {
    const retriever = functionRetriever(async () => cands);
    expect(errorOf(() => new Pipeline({ retriever, stages: [{ reranker: {} as never }] })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => new Pipeline({ retriever: {} as never })).message).toMatch(/options\.retriever/);
    expect(errorOf(() => new Pipeline({ retriever, stages: [{ reranker: ce, topK: 0 }] })).message).toMatch(/options\.stages\[0\]\.topK/);
    expect(errorOf(() => new Pipeline({ retriever, latencyBudgetMs: -1 })).message).toMatch(/options\.latencyBudgetMs/);
    const p = new Pipeline({ retriever });
    expect((await rejectionOf(p.search('q', { candidates: 0 }))).message).toMatch(/options\.candidates/);
    // A reranker that loses a document is refused, not believed.
    const lossy = new Pipeline({ retriever, rerank: { rerank: async () => [{ index: 1, score: 1, logit: 1 }] } });
    expect((await rejectionOf(lossy.search('q'))).code).toBe('ERR_RERANKER_RESULT');
    const dup = new Pipeline({ retriever: { retrieve: async () => [cands[0]!, cands[0]!] } });
    expect((await rejectionOf(dup.search('q'))).code).toBe('ERR_BATCH_PARTIAL');
  });
});

describe('evaluate over any retriever', () => {
  // Fixed rankings per query; every figure worked out by hand.
  const set: IrCollection = {
    docs: [],
    queries: [
      { id: 'q1', text: 'one' },
      { id: 'q2', text: 'two' },
      { id: 'q3', text: 'three' },
    ],
    qrels: new Map([
      ['q1', new Map([['b', 1]])], // ranking a b c: nDCG 1/log2 3, MRR 1/2, recall 1
      ['q2', new Map([['x', 2], ['c', 1]])], // ranking c a: c at 1 (gain 1), x missing: nDCG 1/(2 + 1/log2 3), MRR 1, recall 1/2
      ['q3', new Map([['z', 1]])], // ranking a b: nothing relevant
    ]),
  };
  const rankings: Record<string, string[]> = { one: ['a', 'b', 'c'], two: ['c', 'a'], three: ['a', 'b'] };
  const retriever = functionRetriever((q, k) => rankings[q]!.slice(0, k).map((id, i) => ({ id, text: `doc ${id}`, score: -i })), { name: 'fixed' });
  const l3 = Math.log2(3);

  it('first stage and reranked metrics equal the hand-computed ones', async () => {
    const r = await evaluate(retriever, set, { candidates: 10 });
    expect(r.first).toBe('fixed');
    expect(r.queries).toBe(3);
    expect(r.perQuery.map((q) => q.first)).toEqual([
      { ndcg10: 1 / l3, mrr10: 0.5, recall10: 1, recallAtCandidates: 1 },
      { ndcg10: 1 / (2 + 1 / l3), mrr10: 1, recall10: 0.5, recallAtCandidates: 0.5 },
      { ndcg10: 0, mrr10: 0, recall10: 0, recallAtCandidates: 0 },
    ]);
    expect(r.firstStage.ndcg10).toBeCloseTo((1 / l3 + 1 / (2 + 1 / l3)) / 3, 12);
    expect(r.firstStage.mrr10).toBeCloseTo(0.5, 12);
    expect(r.reranked).toBeUndefined();
    // A reranker that prefers "doc b": q1 → b a c (nDCG 1), q2 unchanged order c a.
    const preferB = { score: async (_q: string, texts: string[]) => Float32Array.from(texts, (t) => (t === 'doc b' ? 1 : 0)) };
    const rr = await evaluate(new Pipeline({ retriever, rerank: preferB }), set, { candidates: 10 });
    expect(rr.perQuery.map((q) => q.reranked!.ndcg10)).toEqual([1, 1 / (2 + 1 / l3), 0]);
    expect(rr.firstStage).toEqual(r.firstStage);
    expect(rr.reranked!.mrr10).toBeCloseTo(2 / 3, 12);
    expect((await rejectionOf(evaluate(new Pipeline({ retriever }), set, { rerank: preferB }))).code).toBe('ERR_INVALID_ARG_VALUE');
  });
});
