// bench/cascade: what a cascade saves. ArguAna, BM25 first stage (100 candidates); baseline: one
// stage, the large cross-encoder (MiniLM-L6 shape, fp32) over all 100; cascade: a small one
// (bert-tiny) keeps 20, the large one orders those. Both pipelines run the same queries in turn
// (interleaved, so drifts of the machine hit both alike). Printed: mean time per search of each and
// their ratio, the cascade's stage times, and how many of the one-stage top 10 the cascade keeps.
// Random weights: the overlap says how much the small stage cuts, not how good either ranking is.
//   node bench/cascade.js [--queries 20] [--keep 20] [--test]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collection, CollectionRetriever, CrossEncoder, Pipeline, loadBeir } from '../dist/index.js';
import { arg, minilmCross, ratio, sharedPath, smoke } from './common.js';

const argDir = sharedPath('fixtures/ir/beir-arguana');
const smallDir = sharedPath('models/bert-tiny-cross');
const largeDir = smoke ? smallDir : minilmCross();
if (!argDir || !smallDir || !largeDir) {
  console.log('bench/cascade: skipped, ../shared fixtures missing (set CROSSRANK_SHARED)');
  process.exit(0);
}
const nq = Number(arg('queries', smoke ? 3 : 20));
const keep = Number(arg('keep', 20));
const candidates = 100;

const c = loadBeir(argDir);
const docs = smoke ? c.docs.slice(0, 1000) : c.docs;
const dir = mkdtempSync(join(tmpdir(), 'crossrank-bench-cascade-'));
const col = await Collection.create(dir, { bm25: { k1: 0.9, b: 0.4 } });
await col.add(docs.map((d) => ({ id: d.id, text: `${d.title} ${d.text}`.trim() })), { batchSize: 2000 });
// Smoke: the same tiny model reading 32 or 128 tokens, so the run takes seconds.
const small = await CrossEncoder.load(smallDir, { cache: false, ...(smoke ? { maxLength: 32 } : {}) });
const large = await CrossEncoder.load(largeDir, { cache: false, ...(smoke ? { maxLength: 128 } : {}) });
const retriever = new CollectionRetriever(col, { first: 'bm25' });
const one = new Pipeline({ retriever, candidates, rerank: large });
const cascade = new Pipeline({ retriever, candidates, stages: [{ reranker: small, topK: keep, name: 'small' }, { reranker: large, name: 'large' }] });
console.log(`bench/cascade: ${docs.length} ArguAna documents (BM25), ${candidates} candidates, ${nq} queries; small ${smallDir}, large ${largeDir}`);

const queries = c.queries.slice(0, nq + 1).map((q) => q.text);
await one.search(queries[nq]); // warm-up, not counted
await cascade.search(queries[nq]);
const t = { one: 0, cascade: 0, small: 0, large: 0, first: 0 };
let overlap = 0;
for (const q of queries.slice(0, nq)) {
  const a = await one.search(q);
  const b = await cascade.search(q);
  t.one += a.timings.totalMs;
  t.cascade += b.timings.totalMs;
  t.first += b.stages[0].ms;
  t.small += b.stages[1].ms;
  t.large += b.stages[2].ms;
  const top = new Set(a.hits.map((h) => h.id));
  overlap += b.hits.filter((h) => top.has(h.id)).length;
}
const mean = (x) => (x / nq).toFixed(1);
console.log(`  one stage (large over ${candidates}): ${mean(t.one)} ms per search`);
console.log(`  cascade (small ${candidates} → ${keep}, large ${keep} → 10): ${mean(t.cascade)} ms per search (first stage ${mean(t.first)} ms, small ${mean(t.small)} ms, large ${mean(t.large)} ms)`);
console.log(`  one stage / cascade: ${ratio(t.one, t.cascade)}; top 10 shared with the one-stage ranking: ${(overlap / nq).toFixed(1)} of 10`);
await col.close();
rmSync(dir, { recursive: true, force: true });
