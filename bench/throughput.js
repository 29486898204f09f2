// bench/throughput: pairs/s and pairs/s per core of in-process scoring and of RerankPool layouts on
// a MiniLM-L6-shape cross-encoder (fp32 and int8), for 100-pair and 1000-pair ArguAna workloads,
// plus RSS after loading with 1, 2 and 4 workers (each in a fresh process).
//   node bench/throughput.js [--pairs 100,1000] [--max-length 512] [--dtypes fp32,q8] [--test]
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CrossEncoder, RerankPool, loadBeir } from '../dist/index.js';
import { arg, minilmCross, ratio, sharedPath, smoke } from './common.js';

const self = fileURLToPath(import.meta.url);
const modelDir = smoke ? sharedPath('models/bert-tiny-cross') : minilmCross();
const argDir = sharedPath('fixtures/ir/beir-arguana');

// Child mode: load a pool of N workers, report RSS in MiB once every worker has the model.
if (process.argv[2] === '--child-rss') {
  const workers = Number(process.argv[3]);
  const dtype = process.argv[4];
  const before = process.memoryUsage().rss;
  if (workers === 0) {
    const ce = await CrossEncoder.load(modelDir, { dtype, threads: 1, cache: false });
    await ce.score('warm', ['up']);
    console.log(JSON.stringify({ before, after: process.memoryUsage().rss }));
  } else {
    const pool = await RerankPool.create(modelDir, { dtype, workers, threadsPerWorker: 1, cache: false });
    await pool.score('warm', Array.from({ length: workers * 4 }, (_, i) => `up ${i}`));
    console.log(JSON.stringify({ before, after: process.memoryUsage().rss }));
    await pool.close();
  }
  process.exit(0);
}

if (!modelDir || !argDir) {
  console.log('bench/throughput: skipped, ../shared fixtures missing (set CROSSRANK_SHARED)');
  process.exit(0);
}
const cores = availableParallelism();
const sizes = arg('pairs', smoke ? '20' : '100,1000').split(',').map(Number);
const dtypes = arg('dtypes', 'fp32,q8').split(',');
const maxLength = Number(arg('max-length', smoke ? 128 : 512));
const c = loadBeir(argDir);
const allPairs = [];
for (let i = 0; allPairs.length < Math.max(...sizes); i++) {
  const q = c.queries[i % c.queries.length];
  const d = c.docs[(i * 7919) % c.docs.length];
  allPairs.push([q.text, `${d.title} ${d.text}`.trim()]);
}

console.log(`bench/throughput: ${cores} cores, max_length ${maxLength}, model ${modelDir}`);
const layouts = [
  { name: 'in-process, 1 thread', make: (dtype) => CrossEncoder.load(modelDir, { dtype, threads: 1, cache: false, maxLength }), threads: 1 },
  { name: 'in-process, 2 threads', make: (dtype) => CrossEncoder.load(modelDir, { dtype, threads: 2, cache: false, maxLength }), threads: 2 },
  { name: 'pool 1 worker × 1 thread', make: (dtype) => RerankPool.create(modelDir, { dtype, workers: 1, threadsPerWorker: 1, cache: false, maxLength }), threads: 1 },
  { name: 'pool 2 workers × 1 thread', make: (dtype) => RerankPool.create(modelDir, { dtype, workers: 2, threadsPerWorker: 1, cache: false, maxLength }), threads: 2 },
  { name: 'pool 1 worker × 2 threads', make: (dtype) => RerankPool.create(modelDir, { dtype, workers: 1, threadsPerWorker: 2, cache: false, maxLength }), threads: 2 },
];

const results = {};
for (const dtype of dtypes) {
  for (const n of sizes) {
    const pairs = allPairs.slice(0, n);
    console.log(`\n${dtype}, ${n} pairs:`);
    for (const l of layouts) {
      const s = await l.make(dtype);
      await s.scorePairs(pairs.slice(0, 4));  // warm-up
      const t0 = performance.now();
      await s.scorePairs(pairs);
      const sec = (performance.now() - t0) / 1000;
      if (s.close) await s.close();
      else s.dispose();
      const pps = n / sec;
      results[`${dtype}/${n}/${l.name}`] = pps;
      console.log(`  ${l.name.padEnd(27)} ${pps.toFixed(1).padStart(8)} pairs/s  ${(pps / l.threads).toFixed(1).padStart(7)} pairs/s per core`);
    }
    const two = results[`${dtype}/${n}/pool 2 workers × 1 thread`];
    const one = results[`${dtype}/${n}/pool 1 worker × 1 thread`];
    const wide = results[`${dtype}/${n}/pool 1 worker × 2 threads`];
    console.log(`  2 workers × 1 thread vs 1 worker × 1 thread: ${ratio(two, one)} (goal ≥ 1.90×); vs 1 worker × 2 threads: ${ratio(two, wide)}`);
  }
}

console.log('\nRSS after loading (fresh process each):');
for (const dtype of dtypes) {
  const file = `${modelDir}/onnx/${dtype === 'q8' ? 'model_quantized' : 'model'}.onnx`;
  const size = statSync(file).size / 2 ** 20;
  const rss = {};
  for (const w of [0, 1, 2, 4]) {
    const out = execFileSync(process.execPath, [self, '--child-rss', String(w), dtype, ...(smoke ? ['--test'] : [])], { encoding: 'utf8' });
    const { after } = JSON.parse(out.trim().split('\n').pop());
    rss[w] = after / 2 ** 20;
  }
  const perWorker = (rss[4] - rss[1]) / 3;
  console.log(`  ${dtype}: model file ${size.toFixed(1)} MiB; in-process ${rss[0].toFixed(0)} MiB; 1 worker ${rss[1].toFixed(0)} MiB, 2 workers ${rss[2].toFixed(0)} MiB, 4 workers ${rss[4].toFixed(0)} MiB`);
  console.log(`  ${dtype}: each extra worker adds ${perWorker.toFixed(1)} MiB = ${((100 * perWorker) / size).toFixed(1)} % of the model file (goal ≤ 15 %)`);
}
