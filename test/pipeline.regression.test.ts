// Collection.search now runs through the Pipeline over a CollectionRetriever: its results must be
// those of the search code it replaced, for every first stage, with and without a cross-encoder.
// The expected results were captured from that code before it moved (test/fixtures/
// make-search-regression.mjs; commit named in the fixture).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BiEncoder, Collection, CrossEncoder, loadBeir, type FirstStage } from '../src/index.js';
import { requireShared } from './shared.js';

interface Case {
  query: string;
  first: FirstStage;
  rerank: boolean;
  candidates: number;
  hits: { id: string; rank: number; score: number; firstStageRank: number; firstStageScore: number; reranked: boolean; title: string }[];
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/search-regression.json'), 'utf8')) as { documents: number; cases: Case[] };

let col: Collection;
let ce: CrossEncoder;
let dir: string;
let queries: Map<string, string>;
beforeAll(async () => {
  const c = loadBeir(requireShared('fixtures/ir/beir-arguana'));
  queries = new Map(c.queries.map((q) => [q.id, q.text]));
  dir = mkdtempSync(join(tmpdir(), 'crossrank-regression-'));
  col = await Collection.create(dir, { embedder: await BiEncoder.load(requireShared('models/bert-tiny-bi')), bm25: true });
  await col.add(c.docs.slice(0, fixture.documents).map((d) => ({ id: d.id, text: `${d.title} ${d.text}`, metadata: { title: d.title } })));
  ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
});
afterAll(async () => {
  await col?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Collection.search through the pipeline', () => {
  it('covers every first stage, with and without reranking', () => {
    expect(new Set(fixture.cases.map((c) => `${c.first}/${c.rerank}`)).size).toBe(6);
  });

  it.each(fixture.cases.map((c, i) => [i, c.first, c.rerank] as const))('case %i (%s, rerank %s): same hits, ranks, scores and movement as before', async (i) => {
    const want = fixture.cases[i]!;
    const res = await col.search(queries.get(want.query)!, { first: want.first, candidates: 30, topK: 20, ...(want.rerank ? { rerank: ce } : {}) });
    expect(res.first).toBe(want.first);
    expect(res.candidates).toBe(want.candidates);
    expect(res.hits.map((h) => h.id)).toEqual(want.hits.map((h) => h.id));
    res.hits.forEach((h, j) => {
      const w = want.hits[j]!;
      expect({ rank: h.rank, firstStageRank: h.firstStageRank, reranked: h.reranked, title: h.metadata?.title }).toEqual({ rank: w.rank, firstStageRank: w.firstStageRank, reranked: w.reranked, title: w.title });
      // Scores are float32: equal to a few units in the last place (BM25's summation order changed
      // with pruned search after the capture — one ulp; another CPU's kernels may differ as little).
      expect(Math.abs(h.score - w.score)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w.score)));
      expect(Math.abs(h.firstStageScore - w.firstStageScore)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w.firstStageScore)));
    });
  });
});
