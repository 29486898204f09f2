// bench/search: our FAISS binding's per-query search time against FAISS called from a tiny C++
// program (bench/native/faiss_search.cc, compiled here against the same libfaiss) on the same
// index file and queries, in the same run. One query per call, k = 100. Each side runs in fresh
// processes that load the saved index, alternating C++ / crossrank for --rounds rounds (this
// machine drifts by ±5 % between processes); a process reports its median per query, a side its
// median over rounds.
//   node bench/search.js [--n 200000] [--dim 384] [--queries 200] [--reps 3] [--rounds 5] [--test]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { FaissIndex } from '../dist/index.js';
import { arg, repoRoot, smoke } from './common.js';
import { clustered } from './vectors.js';

// Child mode: load a saved index in this fresh process (as the C++ program does) and time it.
if (process.argv[2] === '--measure') {
  const [file, qfile, dim, k, reps, nprobe, efSearch] = process.argv.slice(3);
  const buf = readFileSync(qfile);
  const qs = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const d = Number(dim);
  const params = {};
  if (Number(nprobe)) params.nprobe = Number(nprobe);
  if (Number(efSearch)) params.efSearch = Number(efSearch);
  const index = await FaissIndex.load(file);
  const nq = qs.length / d;
  const one = (i) => qs.subarray(i * d, (i + 1) * d);
  const median = async (fn) => {
    for (let i = 0; i < nq; i++) await fn(one(i));  // warm-up pass, as the C++ side
    const times = [];
    for (let r = 0; r < Number(reps); r++) {
      for (let i = 0; i < nq; i++) {
        const t0 = process.hrtime.bigint();
        await fn(one(i));
        times.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  };
  const ours = await median((q) => index.search(q, Number(k), params));
  const sync = await median((q) => index.searchSync(q, Number(k), params));
  console.log(JSON.stringify({ ours, sync }));
  process.exit(0);
}

const n = Number(arg('n', smoke ? 5000 : 200_000));
const dim = Number(arg('dim', smoke ? 32 : 384));
const nq = Number(arg('queries', smoke ? 20 : 200));
const reps = Number(arg('reps', smoke ? 1 : 3));
const rounds = Number(arg('rounds', smoke ? 1 : 5));
const k = 100;
const work = join(repoRoot, '.cache', 'bench-search');
mkdirSync(work, { recursive: true });

const exe = join(work, 'faiss_search');
const src = join(repoRoot, 'bench/native/faiss_search.cc');
if (!existsSync(exe) || statSync(exe).mtimeMs < statSync(src).mtimeMs) {
  execFileSync('g++', ['-O2', '-std=c++17', '-fopenmp', src, '-o', exe, '/usr/lib/x86_64-linux-gnu/libfaiss.a', '-lblas', '-llapack'], { stdio: 'inherit' });
}

const all = clustered(n + nq, dim, Math.max(10, Math.round(Math.sqrt(n) / 4)), 42);
const base = all.subarray(0, n * dim);
const queries = all.slice(n * dim);

console.log(
  `bench/search: ${n} × ${dim} clustered vectors, ${nq} queries (Flat: ${Math.min(nq, 20)}), k = ${k}, ` +
    `median per query over ${reps} passes per process, median of ${rounds} alternating rounds`,
);
// Flat reads every vector per query (~0.1 s here), so it gets fewer queries.
const configs = [
  { factory: 'Flat', params: {}, queries: Math.min(nq, 20) },
  { factory: 'HNSW32', params: { efSearch: 128 }, queries: nq },
  { factory: `IVF${smoke ? 64 : 1024},Flat`, params: { nprobe: 16 }, queries: nq },
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const { factory, params, queries: nqc } of configs) {
  const idx = FaissIndex.create(dim, factory, { metric: 'l2' });
  if (!idx.isTrained) await idx.train(base.subarray(0, Math.min(n, 50_000) * dim));
  await idx.add(base);
  const file = join(work, `${factory.replace(/,/g, '_')}.faiss`);
  await idx.save(file);
  const qf = join(work, `queries-${dim}-${nqc}.f32`);
  writeFileSync(qf, Buffer.from(queries.buffer, 0, nqc * dim * 4));
  const args = [file, qf, String(dim), String(k), String(reps), String(params.nprobe ?? 0), String(params.efSearch ?? 0)];
  const cpp = [];
  const ours = [];
  const sync = [];
  for (let r = 0; r < rounds; r++) {
    cpp.push(Number(execFileSync(exe, args, { encoding: 'utf8' }).trim()));
    const m = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', ...args], { encoding: 'utf8' }).trim());
    ours.push(m.ours);
    sync.push(m.sync);
  }
  const c = median(cpp);
  const o = median(ours);
  const so = median(sync);
  console.log(
    `  ${factory.padEnd(14)} C++ ${c.toFixed(1).padStart(9)} µs   crossrank search() ${o.toFixed(1).padStart(9)} µs (${(o / c).toFixed(3)}×)   ` +
      `searchSync() ${so.toFixed(1).padStart(9)} µs (${(so / c).toFixed(3)}×)   goal ≤ 1.05×` +
      `   [C++ rounds ${cpp.map((x) => x.toFixed(0)).join(' ')}; ours ${ours.map((x) => x.toFixed(0)).join(' ')}]`,
  );
}
