// bench/bm25: BM25 at scale — index N synthetic documents whose words are drawn from the real
// ArguAna text (so the term distribution is natural), then time ArguAna queries against them.
//   node bench/bm25.js [--n 1000000] [--words 120] [--queries 200] [--test]
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
const c = loadBeir(argDir);
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
const queries = c.queries.slice(0, NQ).map((q) => q.text);
for (const q of queries.slice(0, 10)) await idx.search(q, 100);
const times = [];
for (const q of queries) {
  const q0 = performance.now();
  await idx.search(q, 100);
  times.push(performance.now() - q0);
}
times.sort((x, y) => x - y);
console.log(`bench/bm25: ${N} documents of ${WORDS} words, ${idx.terms} terms`);
console.log(`  index build ${buildS.toFixed(1)} s (${(N / buildS).toFixed(0)} docs/s), RSS added ${rss.toFixed(0)} MiB`);
console.log(`  search (ArguAna queries, k = 100): p50 ${times[Math.floor(NQ / 2)].toFixed(2)} ms, p99 ${times[Math.min(NQ - 1, Math.floor(NQ * 0.99))].toFixed(2)} ms`);
