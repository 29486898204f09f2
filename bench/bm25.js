// bench/bm25: BM25 at scale, pruned (MaxScore with block-max bounds, the default) against
// exhaustive evaluation (every posting of every query term: the search before pruning, kept as the
// `exhaustive` option), measured in the same run on the same index and queries.
//  1. ArguAna (the real corpus): every query's top 100 must be identical, ids and scores.
//  2. N synthetic documents whose words are runs of real ArguAna text (so the term distribution is
//     natural), ArguAna queries: identical top 100 on every query timed, and p50/p99 per query
//     (one query at a time, one thread; analysis of the query included) for both.
//   node bench/bm25.js [--n 1000000] [--words 120] [--queries 200] [--k 100] [--test]
import { Bm25Index, loadBeir } from '../dist/index.js';
import { arg, sharedPath, smoke } from './common.js';

const argDir = sharedPath('fixtures/ir/beir-arguana');
if (!argDir) {
  console.log('bench/bm25: skipped, ../shared fixtures missing (set CROSSRANK_SHARED)');
  process.exit(0);
}
const N = Number(arg('n', smoke ? 20_000 : 1_000_000));
const WORDS = Number(arg('words', 120));
const NQ = Number(arg('queries', smoke ? 20 : 200));
const K = Number(arg('k', 100));
const c = loadBeir(argDir);

/** Index of the first query (and its rank) where two result lists differ, or null. */
function firstDifference(a, b) {
  for (let q = 0; q < a.length; q++) {
    const x = a[q];
    const y = b[q];
    if (x.docs.length !== y.docs.length) return `query ${q}: ${x.docs.length} vs ${y.docs.length} hits`;
    for (let r = 0; r < x.docs.length; r++) {
      if (x.docs[r] !== y.docs[r] || x.scores[r] !== y.scores[r]) return `query ${q} rank ${r}: ${x.docs[r]}/${x.scores[r]} vs ${y.docs[r]}/${y.scores[r]}`;
    }
  }
  return null;
}

// 1. ArguAna itself: every query, pruned against exhaustive.
{
  const idx = Bm25Index.create();
  await idx.add(c.docs.map((d) => `${d.title} ${d.text}`));
  const qs = c.queries.map((q) => q.text);
  const pruned = await idx.searchBatch(qs, K);
  const exhaustive = await idx.searchBatch(qs, K, { exhaustive: true });
  const diff = firstDifference(pruned, exhaustive);
  console.log(`bench/bm25: ArguAna ${c.docs.length} documents, ${qs.length} queries: top ${K} pruned vs exhaustive: ${diff ? `DIFFERENT (${diff})` : 'identical'}`);
  if (diff) process.exitCode = 1;
}

// 2. The synthetic collection.
const pool = c.docs.flatMap((d) => `${d.title} ${d.text}`.split(/\s+/)).filter(Boolean);
let s = 12345;
const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
const idx = Bm25Index.create();
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const BATCH = 50_000;
for (let a = 0; a < N; a += BATCH) {
  const docs = [];
  for (let i = a; i < Math.min(N, a + BATCH); i++) {
    const start = Math.floor(rand() * (pool.length - WORDS));  // runs of real text keep phrases natural
    docs.push(pool.slice(start, start + WORDS).join(' '));
  }
  await idx.add(docs);
}
const buildS = (performance.now() - t0) / 1000;
const rss = (process.memoryUsage().rss - rss0) / 2 ** 20;
console.log(`bench/bm25: ${N} documents of ${WORDS} words, ${idx.terms} terms`);
console.log(`  index build ${buildS.toFixed(1)} s (${(N / buildS).toFixed(0)} docs/s), RSS added ${rss.toFixed(0)} MiB`);

const queries = c.queries.slice(0, NQ).map((q) => q.text);
for (const q of queries.slice(0, 5)) {
  await idx.search(q, K);
  await idx.search(q, K, { exhaustive: true });
}
// Interleaved per query, so a slow spell of the machine hits both alike.
const times = { pruned: [], exhaustive: [] };
const results = { pruned: [], exhaustive: [] };
for (const q of queries) {
  for (const mode of ['exhaustive', 'pruned']) {
    const q0 = performance.now();
    const r = await idx.search(q, K, { exhaustive: mode === 'exhaustive' });
    times[mode].push(performance.now() - q0);
    results[mode].push(r);
  }
}
const diff = firstDifference(results.pruned, results.exhaustive);
console.log(`  top ${K} pruned vs exhaustive on ${queries.length} ArguAna queries: ${diff ? `DIFFERENT (${diff})` : 'identical'}`);
if (diff) process.exitCode = 1;
const pct = (t, p) => [...t].sort((x, y) => x - y)[Math.min(t.length - 1, Math.floor(t.length * p))];
const fig = {};
for (const mode of ['exhaustive', 'pruned']) {
  fig[mode] = { p50: pct(times[mode], 0.5), p99: pct(times[mode], 0.99) };
  console.log(`  ${mode.padEnd(10)} search (k = ${K}, one thread): p50 ${fig[mode].p50.toFixed(3)} ms, p99 ${fig[mode].p99.toFixed(3)} ms`);
}
console.log(`  pruned speed-up: p50 ${(fig.exhaustive.p50 / fig.pruned.p50).toFixed(2)}×, p99 ${(fig.exhaustive.p99 / fig.pruned.p99).toFixed(2)}× (goal ≥ 5× at 1M)`);
