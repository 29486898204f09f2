// bench/tokenize: pairs/s encoding ArguAna (query, doc) pairs at max_length 512, crossrank against
// Hugging Face's `tokenizers` package measured in the same run. `--test`: tiny smoke run.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Tokenizer, loadBeir } from '../dist/index.js';
import { sharedPath, smoke, ratio } from './common.js';

const require = createRequire(import.meta.url);
const hf = require('tokenizers');

const argDir = sharedPath('fixtures/ir/beir-arguana');
const tokDir = sharedPath('fixtures/tokenizers/bert-uncased');
if (!argDir || !tokDir) {
  console.log('bench/tokenize: skipped, ../shared fixtures missing (set CROSSRANK_SHARED)');
  process.exit(0);
}
const N = smoke ? 50 : 2000;
const arg = loadBeir(argDir);
const pairs = [];
for (let i = 0; pairs.length < N; i++) {
  const q = arg.queries[i % arg.queries.length];
  pairs.push([q.text, arg.docs[(i * 13) % arg.docs.length].text]);
}
const file = `${tokDir}/tokenizer.json`;
const ours = Tokenizer.fromFile(file);
const ref = hf.Tokenizer.fromFile(file);
ref.setTruncation(512);
ref.disablePadding();

async function time(fn, reps = smoke ? 1 : 3) {
  await fn(); // warm-up
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return N / (best / 1000);
}

const results = {};
results.hfSequential = await time(async () => {
  for (const [q, d] of pairs) await ref.encode(q, d);
});
results.hfPromiseAll = await time(() => Promise.all(pairs.map(([q, d]) => ref.encode(q, d))));
results.oursSequential = await time(() => {
  for (const [q, d] of pairs) ours.encode(q, d, { maxLength: 512 });
});
results.oursBatch1 = await time(() => ours.encodeBatch(pairs, { maxLength: 512, threads: 1 }));
results.oursBatch2 = await time(() => ours.encodeBatch(pairs, { maxLength: 512, threads: 2 }));

// Same ids for the benchmarked inputs (a benchmark of wrong output is worthless).
const mine = await ours.encodeBatch(pairs, { maxLength: 512 });
let same = 0;
for (let i = 0; i < pairs.length; i++) {
  const h = await ref.encode(pairs[i][0], pairs[i][1]);
  if (h.getIds().join() === Array.from(mine[i].ids).join()) same++;
}

// Linear time: 1 MB and 10 MB strings.
const lin = {};
for (const mb of smoke ? [0.1, 1] : [1, 10]) {
  const text = 'retrieval augmented reranking '.repeat(Math.round((mb * 1e6) / 30));
  let best = Infinity;
  for (let r = 0; r < (smoke ? 1 : 3); r++) {
    const t0 = performance.now();
    await ours.encodeBatch([text], { truncation: false, threads: 1 });
    best = Math.min(best, performance.now() - t0);
  }
  lin[mb] = best;
}
const [small, big] = Object.keys(lin).map(Number).sort((a, b) => a - b);

console.log(`bench/tokenize  ${N} ArguAna pairs, bert-uncased, max_length 512 (longest_first)`);
console.table(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { 'pairs/s': Math.round(v) }])));
console.log(`identical ids on these pairs: ${same}/${N}`);
console.log(`crossrank encode() sequential vs HF sequential encode: ${ratio(results.oursSequential, results.hfSequential)} (goal ≥ 4×)`);
console.log(`crossrank encodeBatch 1 thread vs HF sequential encode: ${ratio(results.oursBatch1, results.hfSequential)}`);
console.log(`crossrank encodeBatch 2 threads vs HF Promise.all:     ${ratio(results.oursBatch2, results.hfPromiseAll)} (goal ≥ 1×)`);
console.log(
  `linear time: ${big} MB took ${ratio(lin[big], lin[small])} the time of ${small} MB (linear would be ${big / small}×; ` +
    `${(lin[small] / small).toFixed(1)} vs ${(lin[big] / big).toFixed(1)} ms per MB, best of ${smoke ? 1 : 3})`,
);
