// Collection: persistence, replace-by-id, skip unchanged, removal, crash recovery, two-stage search
// with first-stage ranks, hybrid fusion and the latency planner.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Collection, CrossEncoder, LatencyPlanner, loadBeir, mean, ndcgAt, type IrCollection } from '../src/index.js';
import { rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `crossrank-${p}-`));

describe('LatencyPlanner', () => {
  it('fits overhead + per-token cost and picks the longest prefix that fits', () => {
    const p = new LatencyPlanner();
    for (const t of [1000, 2000, 4000, 8000]) p.observe(t, 5 + 0.01 * t);
    const m = p.model();
    expect(m.overheadMs).toBeCloseTo(5, 6);
    expect(m.msPerToken).toBeCloseTo(0.01, 8);
    const plan = p.plan(new Array(100).fill(500), 100, 20);  // 75 ms left after overhead: 15 pairs of 5 ms
    expect(plan.rerank).toBe(15);
    expect(plan.predictedMs).toBeCloseTo(80, 6);
    expect(p.plan(new Array(10).fill(500), 1, 5).rerank).toBe(1);  // at least one
    expect(m.margin).toBe(1);  // a perfect fit needs no margin
  });

  it('pads plans by the 90th percentile of recent overruns so most runs fit the budget', () => {
    const p = new LatencyPlanner();
    // 20 runs of 1000 tokens: most take 10 ms, two take 13 ms (30 % over).
    for (let i = 0; i < 20; i++) p.observe(1000, i % 10 === 9 ? 13 : 10);
    const m = p.model();
    expect(m.margin).toBeGreaterThan(1.2);
    expect(m.margin).toBeLessThan(1.35);
    const plan = p.plan(new Array(100).fill(100), 20, 0);
    // Unpadded, 20 ms would hold ~20 pairs of ~1 ms; padded, ~1/margin of that.
    expect(plan.rerank).toBeLessThan(17);
    expect(plan.predictedMs).toBeLessThanOrEqual(20);
    expect(plan.model.margin).toBe(m.margin);
  });
});

describe('Collection', () => {
  let c: IrCollection;
  let docs: { id: string; text: string; metadata: { title: string } }[];
  beforeAll(() => {
    c = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    docs = c.docs.map((d) => ({ id: d.id, text: `${d.title} ${d.text}`, metadata: { title: d.title } }));
  });

  it('BM25 collection: ArguAna nDCG@10 matches the index alone, and survives reopening', async () => {
    const dir = tmp('coll-bm25');
    const col = await Collection.create(dir, { bm25: { k1: 0.9, b: 0.4 } });
    const progress: number[] = [];
    const r = await col.add(docs, { batchSize: 1000, onProgress: (done) => progress.push(done) });
    expect(r).toEqual({ added: docs.length, replaced: 0, skipped: 0 });
    expect(progress.at(-1)).toBe(docs.length);
    expect(progress.length).toBe(Math.ceil(docs.length / 1000));
    const evalNdcg = async (col: Collection) =>
      mean(
        await Promise.all(
          c.queries.slice(0, 300).map(async (q) => {
            const res = await col.search(q.text, { first: 'bm25', candidates: 11, topK: 11 });
            return ndcgAt(res.hits.map((h) => h.id).filter((id) => id !== q.id), c.qrels.get(q.id)!, 10);
          }),
        ),
      );
    const before = await evalNdcg(col);
    expect(before).toBeGreaterThan(0.3);
    await col.close();
    const again = await Collection.open(dir);
    expect(again.size).toBe(docs.length);
    expect(await evalNdcg(again)).toBe(before);
    // Adding the same documents again changes nothing.
    expect(await again.add(docs.slice(0, 50))).toEqual({ added: 0, replaced: 0, skipped: 50 });
    await again.close();
  });

  it('replaces by id (never duplicates), removes, and keeps metadata', async () => {
    const dir = tmp('coll-dense');
    const col = await Collection.create(dir, { embedder: { model: requireShared('models/bert-tiny-bi') }, factory: 'Flat' });
    await col.add(docs.slice(0, 300));
    const target = docs[10]!;
    expect(await col.add([{ id: target.id, text: 'zebra xylophone quokka', metadata: { title: 'new' } }])).toEqual({ added: 0, replaced: 1, skipped: 0 });
    expect(col.size).toBe(300);
    expect(col.get(target.id)).toEqual({ id: target.id, text: 'zebra xylophone quokka', metadata: { title: 'new' } });
    for (const first of ['bm25', 'dense', 'hybrid'] as const) {
      const res = await col.search('zebra xylophone quokka', { first, candidates: 300, topK: 300 });
      expect(res.hits.filter((h) => h.id === target.id)).toHaveLength(1);
      expect(new Set(res.hits.map((h) => h.id)).size).toBe(res.hits.length);
    }
    const bm = await col.search('zebra xylophone quokka', { first: 'bm25', topK: 1 });
    expect(bm.hits[0]!.id).toBe(target.id);
    expect(bm.hits[0]!.metadata).toEqual({ title: 'new' });
    expect(await col.remove([target.id, 'no-such-id'])).toBe(1);
    const gone = await col.search('zebra xylophone quokka', { first: 'hybrid', candidates: 300, topK: 300 });
    expect(gone.hits.some((h) => h.id === target.id)).toBe(false);
    expect(col.size).toBe(299);
    await expect(col.add([{ id: 'a', text: 'x' }, { id: 'a', text: 'y' }])).rejects.toThrow(/appears more than once/);
    await expect(col.add([{ id: 7, text: 'x' }] as never)).rejects.toThrow(/"docs\[0\].id"/);
    await col.close();
    // The checkpoint's index file and the previous checkpoint's (kept for readers), no older ones.
    const manifest = JSON.parse(readFileSync(join(dir, 'collection.json'), 'utf8')) as { seq: number; files: { faiss: string } };
    expect(manifest.files.faiss).toBe(`vectors.${manifest.seq}.faiss`);
    expect(readdirSync(dir).filter((f) => f.endsWith('.faiss')).sort()).toEqual([`vectors.${manifest.seq - 1}.faiss`, manifest.files.faiss]);
  });

  it('IVF collection: gathers vectors until trainSize, searches them exactly meanwhile, then trains on all of them', async () => {
    const embedder = { model: requireShared('models/bert-tiny-bi') };
    const flatDir = tmp('coll-flat');
    const flat = await Collection.create(flatDir, { embedder, bm25: false });
    await flat.add(docs.slice(0, 700));
    await flat.remove([docs[3]!.id]);
    const dir = tmp('coll-ivf');
    const col = await Collection.create(dir, { embedder, bm25: false, factory: 'IVF16,Flat', trainSize: 600 });
    await col.add(docs.slice(0, 500), { batchSize: 100 });
    expect(col.pendingVectors).toBe(500);
    expect(readdirSync(dir).filter((f) => f.endsWith('.faiss'))).toHaveLength(0);
    const queries = c.queries.slice(0, 20).map((q) => q.text);
    const top = async (x: Collection, q: string, nprobe?: number) =>
      (await x.search(q, { first: 'dense', candidates: 10, topK: 10, ...(nprobe ? { nprobe } : {}) })).hits.map((h) => h.id);
    // Untrained: exact search over what is there, across a reopen (vectors wait in SQLite).
    const before = await Promise.all(queries.map((q) => top(col, q)));
    await col.close();
    const reopened = await Collection.open(dir);
    expect(reopened.pendingVectors).toBe(500);
    expect(await Promise.all(queries.map((q) => top(reopened, q)))).toEqual(before);
    expect(await reopened.remove([docs[3]!.id])).toBe(1);
    expect(reopened.pendingVectors).toBe(499);
    // Crossing trainSize trains on everything gathered; with every list probed, IVF is exact.
    await reopened.add(docs.slice(500, 700), { batchSize: 100 });
    expect(reopened.pendingVectors).toBe(0);
    expect(reopened.size).toBe(699);
    const exact = await Promise.all(queries.map((q) => top(flat, q)));
    expect(await Promise.all(queries.map((q) => top(reopened, q, 16)))).toEqual(exact);
    await reopened.close();
    const trained = await Collection.open(dir);
    expect(trained.pendingVectors).toBe(0);
    // Training's checkpoint wrote the first index file; the add that trained then checkpointed once more.
    expect(readdirSync(dir).filter((f) => f.endsWith('.faiss'))).toHaveLength(2);
    expect(await Promise.all(queries.map((q) => top(trained, q, 16)))).toEqual(exact);
    await trained.close();
    await flat.close();
    // Explicit training for a small collection; too few vectors is a clear error.
    const small = await Collection.create(tmp('coll-ivf-small'), { embedder, bm25: false, factory: 'IVF16,Flat' });
    await small.add(docs.slice(0, 100));
    expect(small.pendingVectors).toBe(100);
    expect(await small.train()).toEqual({ trained: true, vectors: 100 });
    expect(await small.train()).toEqual({ trained: false, vectors: 0 });
    await small.close();
    const tiny = await Collection.create(tmp('coll-ivf-tiny'), { embedder, bm25: false, factory: 'IVF256,Flat' });
    await tiny.add(docs.slice(0, 100));
    const err = await rejectionOf(tiny.train());
    expect(err.code).toBe('ERR_TRAINING_DATA');
    expect(err.message).toMatch(/at least 256 vectors.*has 100/);
    await tiny.close();
    expect((await rejectionOf(Collection.create(tmp('coll-ivf-bad'), { embedder, factory: 'IVF64,Flat', trainSize: 10 }))).code).toBe('ERR_OUT_OF_RANGE');
  });

  it('IVF collection: pending rows left by a crash after training\'s checkpoint are dropped on open', async () => {
    const embedder = { model: requireShared('models/bert-tiny-bi') };
    const dir = tmp('coll-ivf-leftover');
    const col = await Collection.create(dir, { embedder, bm25: false, factory: 'IVF16,Flat', trainSize: 300 });
    await col.add(docs.slice(0, 400), { batchSize: 100 });
    expect(col.pendingVectors).toBe(0);
    await col.close();
    // The process died after the trained index was checkpointed, before `pending` was cleared.
    const db = new Database(join(dir, 'docs.sqlite'));
    const rows = db.prepare('SELECT rowid FROM docs ORDER BY rowid LIMIT 50').all() as { rowid: number }[];
    const put = db.prepare('INSERT INTO pending (rowid, vec) VALUES (?, ?)');
    for (const r of rows) put.run(r.rowid, Buffer.alloc(4 * 128));
    db.close();
    const again = await Collection.open(dir);
    expect(again.pendingVectors).toBe(0);
    expect(again.size).toBe(400);
    const hits = (await again.search(docs[5]!.text, { first: 'dense', candidates: 400, topK: 400, nprobe: 16 })).hits;
    expect(hits.filter((h) => h.id === docs[5]!.id)).toHaveLength(1);
    expect(new Set(hits.map((h) => h.id)).size).toBe(400);
    await again.close();
    const check = new Database(join(dir, 'docs.sqlite'));
    expect((check.prepare('SELECT count(*) AS n FROM pending').get() as { n: number }).n).toBe(0);
    check.close();
  });

  // BM25 alone, and a dense IVF index that trains (at 1 500 documents) before the crash.
  it.each([
    ['bm25', { bm25: true }],
    ['ivf', { bm25: false, embedder: { model: 'BI' }, factory: 'IVF16,Flat', trainSize: 1500 }],
  ] as const)('recovers rows added after the last checkpoint when the process died (%s)', async (kind, options) => {
    const dir = tmp(`coll-crash-${kind}`);
    const createOptions = JSON.stringify(options).replace('"BI"', JSON.stringify(requireShared('models/bert-tiny-bi')));
    // A child adds 2 000 documents with a checkpoint every 500 and dies without closing.
    const script = `
      import { Collection, loadBeir } from ${JSON.stringify(join(import.meta.dirname, '../dist/index.js'))};
      const c = loadBeir(${JSON.stringify(requireShared('fixtures/ir/beir-arguana'))});
      const col = await Collection.create(${JSON.stringify(dir)}, ${createOptions});
      await col.add(c.docs.slice(0, 2000).map((d) => ({ id: d.id, text: d.title + ' ' + d.text })), {
        batchSize: 100, checkpointEvery: 500,
        onProgress: (done) => { if (done === 1700) process.exit(9); },
      });`;
    let code = 0;
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', script]);
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(9);
    const col = await Collection.open(dir);
    expect(col.size).toBe(1700);
    expect(col.pendingVectors).toBe(0);
    // Every row is searchable exactly once: each document's own text finds it.
    const first = kind === 'bm25' ? 'bm25' : 'dense';
    for (const d of docs.slice(1400, 1700).filter((_, i) => i % 20 === 0)) {
      const res = await col.search(d.text.slice(0, 200), { first, topK: 1000, candidates: 1000, nprobe: 16 });
      expect(res.hits.filter((h) => h.id === d.id)).toHaveLength(1);
    }
    // Running the interrupted add again finishes it.
    const r = await col.add(c.docs.slice(0, 2000).map((d) => ({ id: d.id, text: d.title + ' ' + d.text })));
    expect(r).toEqual({ added: 300, replaced: 0, skipped: 1700 });
    await col.close();
  });

  it('latency planner on a stubbed clock: each search keeps its budget and reranks as many candidates as fit', async () => {
    const col = await Collection.create(tmp('coll-planner'), { bm25: true });
    await col.add(docs.slice(0, 500));
    // A reranker whose cost is known exactly: 3 ms per call + 0.02 ms per token, on a clock that
    // only it advances (tokens estimated as the collection estimates them).
    let clock = 0;
    const tokens = (q: string, t: string) => Math.min(512, Math.ceil((q.length + t.length) / 4) + 3);
    const cost = (q: string, texts: string[]) => 3 + 0.02 * texts.reduce((a, t) => a + tokens(q, t), 0);
    const scorer = {
      maxLength: 512,
      async score(q: string, texts: string[]) {
        clock += cost(q, texts);
        return Float32Array.from(texts, (t) => t.length);
      },
    } as unknown as CrossEncoder;
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
    try {
      // Two searches to learn from (the first calibrates on 4 candidates, then reranks all 50).
      for (const q of c.queries.slice(0, 2)) await col.search(q.text, { first: 'bm25', candidates: 50, rerank: scorer, latencyBudgetMs: 10_000 });
      let partial = 0;
      for (const [i, q] of c.queries.slice(2, 14).entries()) {
        const budget = [20, 45, 90][i % 3]!;
        const res = await col.search(q.text, { first: 'bm25', candidates: 50, topK: 50, rerank: scorer, latencyBudgetMs: budget });
        const texts = res.hits.slice().sort((a, b) => a.firstStageRank - b.firstStageRank).map((h) => h.text);
        let fit = 0;
        while (fit < texts.length && cost(q.text, texts.slice(0, fit + 1)) <= budget) fit++;
        expect(res.timings.totalMs, `query ${i}, budget ${budget}`).toBeLessThanOrEqual(budget);
        expect(res.plan!.rerank, `query ${i}, budget ${budget}`).toBe(fit);
        expect(res.hits.filter((h) => h.reranked)).toHaveLength(fit);
        if (fit < texts.length) partial++;
      }
      expect(partial).toBeGreaterThan(0); // budgets that cut the candidate list short

    } finally {
      now.mockRestore();
      await col.close();
    }
  });

  it('two-stage search: hits carry first-stage rank/score; the reranker orders them; the planner reports', async () => {
    const dir = tmp('coll-2stage');
    const col = await Collection.create(dir, { bm25: true });
    await col.add(docs.slice(0, 1000));
    const ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    const q = c.queries[0]!.text;
    const first = await col.search(q, { first: 'bm25', candidates: 50, topK: 50 });
    const res = await col.search(q, { first: 'bm25', candidates: 50, topK: 10, rerank: ce });
    expect(res.hits).toHaveLength(10);
    expect(res.candidates).toBe(50);
    const scores = await ce.score(q, first.hits.map((h) => h.text));
    for (const [i, h] of res.hits.entries()) {
      expect(h.rank).toBe(i + 1);
      expect(h.reranked).toBe(true);
      const fs = first.hits[h.firstStageRank - 1]!;
      expect(fs.id).toBe(h.id);
      expect(h.firstStageScore).toBe(fs.score);
      expect(h.score).toBe(scores[h.firstStageRank - 1]);
      if (i) expect(res.hits[i - 1]!.score).toBeGreaterThanOrEqual(h.score);
    }
    const budget = await col.search(q, { first: 'bm25', candidates: 50, topK: 50, rerank: ce, latencyBudgetMs: 5 });
    expect(budget.hits.filter((h) => h.reranked)).toHaveLength(budget.plan!.rerank);
    const wide = await col.search(q, { first: 'bm25', candidates: 50, topK: 50, rerank: ce, latencyBudgetMs: 60_000 });
    expect(wide.plan!.rerank).toBe(50);
    await expect(col.search(q, { first: 'dense' })).rejects.toThrow(/no dense index/);
    await expect(col.search(q, { candidates: 0 })).rejects.toThrow(/options.candidates/);
    expect((await rejectionOf(Collection.open(tmp('empty')))).code).toBe('ERR_COLLECTION_NOT_FOUND');
    expect((await rejectionOf(Collection.create(dir))).code).toBe('ERR_COLLECTION_EXISTS');
    expect(existsSync(join(dir, 'docs.sqlite'))).toBe(true);
    await col.close();
  });
});
