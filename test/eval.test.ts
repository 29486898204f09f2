// Evaluation: the metrics on hand-computed rankings, and evaluate() / `crossrank evaluate` on a real
// BEIR collection (ArguAna) with BM25, with and without a reranker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Collection, CrossEncoder, evaluate, loadBeir, mean, mrrAt, ndcgAt, recallAt, type EvaluationReport, type IrCollection } from '../src/index.js';
import { rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

describe('metrics', () => {
  const qrels = new Map([['a', 2], ['c', 1], ['z', 1]]);
  const ranking = ['x', 'a', 'y', 'c'];
  it('nDCG@k, MRR@k and recall@k as trec_eval computes them', () => {
    const dcg = 2 / Math.log2(3) + 1 / Math.log2(5);
    const idcg = 2 / Math.log2(2) + 1 / Math.log2(3) + 1 / Math.log2(4);
    expect(ndcgAt(ranking, qrels, 10)).toBeCloseTo(dcg / idcg, 12);
    expect(mrrAt(ranking, qrels, 10)).toBe(1 / 2);
    expect(mrrAt(ranking, qrels, 1)).toBe(0);
    expect(recallAt(ranking, qrels, 10)).toBeCloseTo(2 / 3, 12);
    expect(recallAt(ranking, qrels, 2)).toBeCloseTo(1 / 3, 12);
    expect(mrrAt([], qrels, 10)).toBe(0);
  });
});

describe('evaluate on a hand-made collection', () => {
  // Six documents of four words; BM25 ranks each query's hits by term frequency alone (equal
  // lengths), so every ranking, and every figure below, is worked out by hand. Query "d" has the id
  // of a document, as ArguAna's queries do.
  const data: IrCollection = {
    docs: [
      { id: 'a', title: '', text: 'zebra zebra alpha beta' },
      { id: 'b', title: '', text: 'zebra alpha beta gamma' },
      { id: 'c', title: '', text: 'quokka alpha beta gamma' },
      { id: 'd', title: '', text: 'walrus walrus walrus alpha' },
      { id: 'e', title: '', text: 'walrus alpha beta gamma' },
      { id: 'f', title: '', text: 'delta alpha beta gamma' },
    ],
    queries: [
      { id: 'q1', text: 'zebra' }, // ranking a, b; b relevant
      { id: 'q2', text: 'quokka' }, // ranking c; c (grade 2) and f relevant
      { id: 'd', text: 'walrus' }, // ranking d, e: d is the query's own id; e relevant
      { id: 'q4', text: 'unjudged' },
    ],
    qrels: new Map([
      ['q1', new Map([['b', 1]])],
      ['q2', new Map([['c', 2], ['f', 1]])],
      ['d', new Map([['e', 1]])],
    ]),
  };
  const l3 = Math.log2(3);
  let col: Collection;
  beforeAll(async () => {
    col = await Collection.create(mkdtempSync(join(tmpdir(), 'crossrank-eval-hand-')), { bm25: true });
    await col.add(data.docs);
  });
  afterAll(() => col?.close());

  it('first stage: per query and mean nDCG@10, MRR@10 and recall, the own id dropped or kept', async () => {
    const r = await evaluate(col, data, { candidates: 10 });
    expect(r.queries).toBe(3);
    const per = Object.fromEntries(r.perQuery.map((q) => [q.id, q.first]));
    expect(per.q1!.ndcg10).toBeCloseTo(1 / l3, 12);
    expect(per.q1!.mrr10).toBe(0.5);
    expect(per.q2!.ndcg10).toBeCloseTo(2 / (2 + 1 / l3), 12);
    expect(per.q2!.recall10).toBe(0.5);
    expect(per.d).toEqual({ ndcg10: 1, mrr10: 1, recall10: 1, recallAtCandidates: 1 });
    expect(r.firstStage.ndcg10).toBeCloseTo((1 / l3 + 2 / (2 + 1 / l3) + 1) / 3, 12);
    expect(r.firstStage.mrr10).toBeCloseTo(2.5 / 3, 12);
    expect(r.firstStage.recall10).toBeCloseTo(2.5 / 3, 12);
    expect(r.firstStage.recallAtCandidates).toBeCloseTo(2.5 / 3, 12);
    const kept = await evaluate(col, data, { candidates: 10, ignoreIdenticalIds: false });
    expect(kept.perQuery.find((q) => q.id === 'd')!.first).toMatchObject({ ndcg10: 1 / l3, mrr10: 0.5 });
    // Depth 1: q1 keeps only a (not relevant).
    expect((await evaluate(col, data, { candidates: 1 })).perQuery[0]!.first).toEqual({ ndcg10: 0, mrr10: 0, recall10: 0, recallAtCandidates: 0 });
  });

  it('reranked: a scorer that prefers documents with "gamma" puts b before a for q1', async () => {
    const gamma = {
      maxLength: 512,
      score: async (_q: string, texts: string[]) => Float32Array.from(texts, (t) => (t.includes('gamma') ? 1 : 0)),
    } as unknown as CrossEncoder;
    const r = await evaluate(col, data, { candidates: 10, rerank: gamma });
    expect(r.perQuery.map((q) => q.reranked!.ndcg10)).toEqual([1, expect.closeTo(2 / (2 + 1 / l3), 12), 1]);
    expect(r.reranked!.mrr10).toBe(1);
    expect(r.reranked!.recallAtCandidates).toBeCloseTo(r.firstStage.recallAtCandidates, 12);
    expect(r.firstStage.mrr10).toBeCloseTo(2.5 / 3, 12);
  });
});

describe('evaluate', () => {
  let data: IrCollection;
  let col: Collection;
  let dir: string;
  beforeAll(async () => {
    data = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    dir = mkdtempSync(join(tmpdir(), 'crossrank-eval-'));
    col = await Collection.create(dir, { bm25: { k1: 0.9, b: 0.4 } });
    await col.add(data.docs.map((d) => ({ id: d.id, text: `${d.title} ${d.text}` })));
  });
  afterAll(() => col?.close());

  it('first-stage scores equal the metrics over the collection\'s own rankings (query id dropped, as BEIR does)', async () => {
    const report = await evaluate(col, data, { queries: 100, candidates: 100 });
    expect(report.queries).toBe(100);
    const byHand = await Promise.all(
      data.queries.filter((q) => data.qrels.has(q.id)).slice(0, 100).map(async (q) => {
        const ids = (await col.search(q.text, { first: 'bm25', candidates: 101, topK: 101 })).hits.map((h) => h.id).filter((id) => id !== q.id).slice(0, 100);
        const rel = data.qrels.get(q.id)!;
        return { ndcg: ndcgAt(ids, rel, 10), mrr: mrrAt(ids, rel, 10), r100: recallAt(ids, rel, 100) };
      }),
    );
    expect(report.firstStage.ndcg10).toBeCloseTo(mean(byHand.map((x) => x.ndcg)), 12);
    expect(report.firstStage.mrr10).toBeCloseTo(mean(byHand.map((x) => x.mrr)), 12);
    expect(report.firstStage.recallAtCandidates).toBeCloseTo(mean(byHand.map((x) => x.r100)), 12);
    expect(report.firstStage.ndcg10).toBeGreaterThan(0.3);  // BM25 on ArguAna (full set: 0.40)
    expect(report.reranked).toBeUndefined();
    // Keeping the query's own document changes the figures (ArguAna's queries are corpus documents).
    const kept = await evaluate(col, data, { queries: 100, candidates: 100, ignoreIdenticalIds: false });
    expect(kept.firstStage.ndcg10).not.toBe(report.firstStage.ndcg10);
  });

  it('with a reranker: the same candidates reordered (equal recall at the candidate depth), per query', async () => {
    const ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'));
    const progress: number[] = [];
    const report = await evaluate(col, data, { queries: 10, candidates: 20, rerank: ce, onProgress: (d) => progress.push(d) });
    expect(progress).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(report.reranked).toBeDefined();
    for (const q of report.perQuery) expect(q.reranked!.recallAtCandidates).toBe(q.first.recallAtCandidates);
    expect(report.timings.rerankMs).toBeGreaterThan(0);
    await expect(evaluate(col, data, { candidates: 0 })).rejects.toThrow(/options.candidates/);
    expect((await rejectionOf(evaluate(col, data, { first: 'sideways' as never }))).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('`crossrank evaluate --json` prints the same report', async () => {
    const cli = join(import.meta.dirname, '../dist/cli.js');
    await col.close();
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'evaluate', requireShared('fixtures/ir/beir-arguana'), dir, '--queries', '30', '--json']);
    const printed = JSON.parse(stdout) as EvaluationReport;
    col = await Collection.open(dir);
    const lib = await evaluate(col, data, { queries: 30 });
    expect(printed.firstStage).toEqual(lib.firstStage);
    expect(printed.perQuery.map((q) => q.id)).toEqual(lib.perQuery.map((q) => q.id));
  }, 60_000);
});
