// Retrievers without a server: a function as first stage (every bad hit reported, nothing dropped)
// and bare FAISS / BM25 indexes with a document lookup, checked against the indexes' own searches.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BatchError,
  BiEncoder,
  Bm25Index,
  FaissIndex,
  FunctionRetriever,
  IndexRetriever,
  loadBeir,
  reciprocalRankFusion,
  type IndexDoc,
  type IrCollection,
} from '../src/index.js';
import { errorOf, rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

describe('FunctionRetriever', () => {
  const good = [
    { id: 'a', text: 'alpha', score: 3, metadata: { lang: 'en' } },
    { id: 'b', text: 'beta', score: 2 },
  ];

  it('passes k and the signal to the function and returns fresh copies of valid hits', async () => {
    const seen: unknown[] = [];
    const r = new FunctionRetriever(async (q, k, signal) => {
      seen.push(q, k, signal);
      return good;
    });
    const ac = new AbortController();
    const hits = await r.retrieve('q', { k: 5, signal: ac.signal });
    expect(seen).toEqual(['q', 5, ac.signal]);
    expect(hits).toEqual(good);
    expect(hits[0]).not.toBe(good[0]);
    // A synchronous function works too.
    expect(await new FunctionRetriever(() => good).retrieve('q', { k: 2 })).toEqual(good);
  });

  it('reports every bad item with its own code and keeps the good ones in BatchError.results', async () => {
    const bad = [
      good[0],
      { id: 'a', text: 'again', score: 1 },  // duplicate id
      { id: 7, text: 'numeric id', score: 1 },
      { id: 'c', text: null, score: 1 },
      { id: 'd', text: 'nan', score: Number.NaN },
      { id: 'e', text: 'inf', score: Infinity },
      { id: 'f', text: 'meta', score: 1, metadata: [1] },
      'just a string',
      { id: '', text: 'empty id', score: 1 },
      { id: 'g', text: 'fine', score: 0 },
    ];
    const e = (await rejectionOf(new FunctionRetriever(async () => bad, { name: 'es' }).retrieve('q', { k: 20 }))) as BatchError<unknown>;
    expect(e).toBeInstanceOf(BatchError);
    expect(e.failures.map((f) => [f.index, f.code])).toEqual([
      [1, 'ERR_CANDIDATE_DUPLICATE_ID'],
      [2, 'ERR_CANDIDATE_ID'],
      [3, 'ERR_CANDIDATE_TEXT'],
      [4, 'ERR_CANDIDATE_SCORE'],
      [5, 'ERR_CANDIDATE_SCORE'],
      [6, 'ERR_CANDIDATE_METADATA'],
      [7, 'ERR_CANDIDATE_TYPE'],
      [8, 'ERR_CANDIDATE_ID'],
    ]);
    expect(e.failures[0]!.message).toContain('es[1].id "a"');
    expect(e.results).toEqual([good[0], null, null, null, null, null, null, null, null, { id: 'g', text: 'fine', score: 0 }]);
  });

  it('a non-array answer or more than k hits is ERR_RETRIEVER_RESULT; bad arguments are typed errors', async () => {
    expect((await rejectionOf(new FunctionRetriever(async () => ({ hits: [] }) as never).retrieve('q', { k: 3 }))).code).toBe('ERR_RETRIEVER_RESULT');
    const tooMany = await rejectionOf(new FunctionRetriever(async () => good).retrieve('q', { k: 1 }));
    expect(tooMany.code).toBe('ERR_RETRIEVER_RESULT');
    expect(tooMany.message).toContain('at most k = 1');
    const r = new FunctionRetriever(async () => []);
    expect((await rejectionOf(r.retrieve('q', { k: 0 }))).code).toBe('ERR_OUT_OF_RANGE');
    expect((await rejectionOf(r.retrieve(5 as never, { k: 1 }))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejectionOf(r.retrieve('q', { k: 1, signal: {} as never }))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((errorOf(() => new FunctionRetriever('nope' as never)) as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(await r.retrieve('q', { k: 1 })).toEqual([]);
  });

  it('aborting rejects at once even when the function ignores the signal', async () => {
    let calls = 0;
    const r = new FunctionRetriever(() => {
      calls++;
      return new Promise<never>(() => {});
    });
    const ac = new AbortController();
    const p = r.retrieve('q', { k: 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    const e = await rejectionOf(p);
    expect(e.code).toBe('ABORT_ERR');
    expect(calls).toBe(1);
    // Already aborted: the function is not called.
    expect((await rejectionOf(r.retrieve('q', { k: 1, signal: AbortSignal.abort() }))).code).toBe('ABORT_ERR');
    expect(calls).toBe(1);
  });
});

describe('IndexRetriever over ArguAna (bare BM25 and FAISS Flat + bert-tiny-bi)', () => {
  let data: IrCollection;
  let docs: IndexDoc[];
  let bm25: Bm25Index;
  let faiss: FaissIndex;
  let bi: BiEncoder;
  const N = 2000;

  beforeAll(async () => {
    data = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    docs = data.docs.slice(0, N).map((d) => ({ id: d.id, text: `${d.title} ${d.text}`, metadata: { title: d.title } }));
    bm25 = Bm25Index.create();
    await bm25.add(docs.map((d) => d.text));
    bi = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
    faiss = FaissIndex.create(bi.dim, 'Flat');
    await faiss.add(await bi.embed(docs.map((d) => d.text)));
  });

  const queries = () => data.queries.slice(0, 5).map((q) => q.text);

  it('BM25 mode returns what Bm25Index.search ranks, with the lookup\'s documents', async () => {
    const r = new IndexRetriever({ bm25: { index: bm25, docs } });
    expect(r.mode).toBe('bm25');
    for (const q of queries()) {
      const hits = await r.retrieve(q, { k: 10 });
      const ref = await bm25.search(q, 10);
      expect(hits.map((h) => h.id)).toEqual(Array.from(ref.docs, (d) => docs[d]!.id));
      expect(hits.map((h) => h.score)).toEqual(Array.from(ref.scores));
      expect(hits[0]!.metadata).toEqual(docs[ref.docs[0]!]!.metadata);
    }
  });

  it('dense mode embeds the query and returns FAISS\'s order (a Map or async function lookup)', async () => {
    const map = new Map(docs.map((d, i) => [i, d]));
    const viaMap = new IndexRetriever({ dense: { index: faiss, embedder: bi, docs: map } });
    const viaFn = new IndexRetriever({ dense: { index: faiss, embedder: bi, docs: async (keys) => keys.map((key) => docs[key]) } });
    for (const q of queries()) {
      const ref = await faiss.search(await bi.embed([q]), 10);
      const hits = await viaMap.retrieve(q, { k: 10 });
      expect(hits.map((h) => h.id)).toEqual(Array.from(ref.ids, (id) => docs[Number(id)]!.id));
      expect(hits.map((h) => h.score)).toEqual(Array.from(ref.scores));
      expect(await viaFn.retrieve(q, { k: 10 })).toEqual(hits);
    }
  });

  it('L2 distances are negated so that higher is better; k beyond the stored vectors returns what there is', async () => {
    const l2 = FaissIndex.create(bi.dim, 'Flat', { metric: 'l2' });
    await l2.add(await bi.embed(docs.slice(0, 3).map((d) => d.text)));
    const hits = await new IndexRetriever({ dense: { index: l2, embedder: bi, docs } }).retrieve(docs[1]!.text, { k: 10 });
    expect(hits).toHaveLength(3);
    expect(hits[0]!.id).toBe(docs[1]!.id);
    expect(hits[0]!.score).toBeCloseTo(0, 4);
    expect(hits[1]!.score).toBeLessThan(0);
    expect(hits[1]!.score).toBeGreaterThanOrEqual(hits[2]!.score);
  });

  it('hybrid mode is reciprocal-rank fusion of both sides at depth 2k', async () => {
    const r = new IndexRetriever({ dense: { index: faiss, embedder: bi, docs }, bm25: { index: bm25, docs } });
    expect(r.mode).toBe('hybrid');
    for (const q of queries()) {
      const d = (await faiss.search(await bi.embed([q]), 20)).ids;
      const b = (await bm25.search(q, 20)).docs;
      const fused = reciprocalRankFusion([Array.from(d, (id) => docs[Number(id)]!.id), Array.from(b, (n) => docs[n]!.id)]).slice(0, 10);
      const hits = await r.retrieve(q, { k: 10 });
      expect(hits.map((h) => h.id)).toEqual(fused.map((f) => f.id));
      expect(hits.map((h) => h.score)).toEqual(fused.map((f) => f.score));
    }
  });

  it('a number the lookup does not know fails that item with ERR_DOC_NOT_FOUND', async () => {
    const partial = docs.map((d, i) => (i % 2 ? undefined : d));
    const q = queries()[0]!;
    const ref = await bm25.search(q, 10);
    const e = (await rejectionOf(new IndexRetriever({ bm25: { index: bm25, docs: partial } }).retrieve(q, { k: 10 }))) as BatchError<unknown>;
    expect(e).toBeInstanceOf(BatchError);
    const odd = Array.from(ref.docs).flatMap((n, i) => (n % 2 ? [i] : []));
    expect(odd.length).toBeGreaterThan(0);
    expect(e.failures.map((f) => f.index)).toEqual(odd);
    expect(new Set(e.failures.map((f) => f.code))).toEqual(new Set(['ERR_DOC_NOT_FOUND']));
    expect(e.results.filter((x) => x !== null)).toHaveLength(10 - odd.length);
    const wrongLength = new IndexRetriever({ bm25: { index: bm25, docs: () => [] } });
    expect((await rejectionOf(wrongLength.retrieve(q, { k: 10 }))).code).toBe('ERR_RETRIEVER_RESULT');
  });

  it('rejects bad options with typed errors', () => {
    expect((errorOf(() => new IndexRetriever({})) as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
    expect((errorOf(() => new IndexRetriever({ bm25: { index: bm25, docs }, mode: 'dense' })) as { code?: string }).code).toBe('ERR_NO_DENSE_INDEX');
    expect((errorOf(() => new IndexRetriever({ bm25: { index: {} as never, docs } })) as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((errorOf(() => new IndexRetriever({ bm25: { index: bm25, docs: 'x' as never } })) as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((errorOf(() => new IndexRetriever({ dense: { index: faiss, embedder: {} as never, docs } })) as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((errorOf(() => new IndexRetriever({ bm25: { index: bm25, docs }, rrfK: -1 })) as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
  });
});
