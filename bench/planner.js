// bench/planner: does the latency planner keep two-stage search within its budget? An ArguAna
// collection (BM25 first stage, 100 candidates), a MiniLM-L6-shape cross-encoder (fp32, from
// make_ref_model.py), and `latencyBudgetMs` budgets; the planner learns this reranker's cost online
// from the searches themselves (after --warmup searches that are not counted). Per budget: how many
// candidates it reranked, its predicted rerank time against the measured one, end-to-end latency
// p50 / p95 / max, and the share of searches within budget.
//   node bench/planner.js [--budgets 250,500,1000] [--queries 30] [--warmup 5] [--test]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collection, CrossEncoder, loadBeir } from '../dist/index.js';
import { arg, minilmCross, sharedPath, smoke } from './common.js';

const argDir = sharedPath('fixtures/ir/beir-arguana');
const modelDir = smoke ? sharedPath('models/bert-tiny-cross') : minilmCross();
if (!argDir || !modelDir) {
  console.log('bench/planner: skipped, ../shared fixtures missing (set CROSSRANK_SHARED)');
  process.exit(0);
}
const budgets = String(arg('budgets', smoke ? '20,50' : '250,500,1000')).split(',').map(Number);
const nq = Number(arg('queries', smoke ? 4 : 30));
const warmup = Number(arg('warmup', smoke ? 1 : 5));
const candidates = 100;

const c = loadBeir(argDir);
const dir = mkdtempSync(join(tmpdir(), 'crossrank-bench-planner-'));
const col = await Collection.create(dir, { bm25: { k1: 0.9, b: 0.4 } });
await col.add(c.docs.map((d) => ({ id: d.id, text: `${d.title} ${d.text}`.trim() })), { batchSize: 2000 });
const ce = await CrossEncoder.load(modelDir, { cache: false });
console.log(
  `bench/planner: ${c.docs.length} ArguAna documents (BM25), ${candidates} candidates, model ${modelDir}, ` +
    `${nq} queries per budget after ${warmup} warm-up searches`,
);

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const queries = c.queries.map((q) => q.text);
let next = 0;
const search = (budget) =>
  col.search(queries[next++ % queries.length], { first: 'bm25', candidates, topK: 10, rerank: ce, latencyBudgetMs: budget });

for (let i = 0; i < warmup; i++) await search(budgets[0]);
for (const budget of budgets) {
  const rows = [];
  for (let i = 0; i < nq; i++) {
    const r = await search(budget);
    rows.push({ n: r.plan.rerank, total: r.timings.totalMs, rerank: r.timings.rerankMs, predicted: r.plan.predictedMs });
  }
  const within = rows.filter((r) => r.total <= budget).length;
  const ns = rows.map((r) => r.n);
  const err = rows.map((r) => (r.rerank - r.predicted) / r.predicted);
  console.log(
    `  budget ${String(budget).padStart(5)} ms: reranked ${(ns.reduce((a, b) => a + b, 0) / nq).toFixed(1)} of ${candidates} ` +
      `(${Math.min(...ns)}–${Math.max(...ns)}); end to end p50 ${pct(rows.map((r) => r.total), 50).toFixed(0)} ms, ` +
      `p95 ${pct(rows.map((r) => r.total), 95).toFixed(0)} ms, max ${Math.max(...rows.map((r) => r.total)).toFixed(0)} ms; ` +
      `rerank time vs prediction median ${(pct(err, 50) * 100).toFixed(1)} %; within budget ${within}/${nq} (${((100 * within) / nq).toFixed(0)} %)`,
  );
}
await col.close();
await ce.dispose();
rmSync(dir, { recursive: true, force: true });
