// bench/search: our FAISS binding's per-query search time against FAISS called from a tiny C++
// program (bench/native/faiss_search.cc, compiled here against the same FAISS 1.15 the addon links)
// on the same index file and queries, in the same run; and FAISS 1.15 (runtime SIMD dispatch)
// against Debian's FAISS 1.7.3 (generic x86-64), the same C++ program compiled against each, on
// the same file and queries (Flat and IVF; goal ≥ 3×, Flat results identical). One query per call,
// k = 100. Each round runs the C++ programs and then a fresh Node process (each loads the saved
// index and reports its median per query), all pinned to the same CPU, taking the CPUs in turn:
// the two vCPUs of a VM can differ by 10 % at a time, and an unpinned process's speed depends on
// where the scheduler put it. The figure is the median over rounds of the per-round ratio.
// `--pin none` leaves placement to the OS.
//   node bench/search.js [--n 200000] [--dim 384] [--queries 200] [--reps 3] [--rounds 10]
//                        [--only Flat,HNSW,IVF] [--pin auto|none] [--test]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { FaissIndex, faissInfo } from '../dist/index.js';
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
  // As in the C++ program, the timed region holds the search call and the clock reads only: the
  // query views are made beforehand and the clock is performance.now() (no BigInt per read).
  const one = Array.from({ length: nq }, (_, i) => qs.subarray(i * d, (i + 1) * d));
  const pass = async (fn, times) => {
    for (let i = 0; i < nq; i++) {
      const t0 = performance.now();
      await fn(one[i]);
      times.push((performance.now() - t0) * 1000);
    }
  };
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  // Passes of the two calls alternate, so drift within the process falls on both.
  const asyncTimes = [];
  const syncTimes = [];
  const viaAsync = (q) => index.search(q, Number(k), params);
  const viaSync = (q) => index.searchSync(q, Number(k), params);
  for (let i = 0; i < nq; i++) await viaAsync(one[i]);  // warm-up pass, as the C++ side
  for (let i = 0; i < nq; i++) viaSync(one[i]);
  for (let r = 0; r < Number(reps); r++) {
    await pass(viaAsync, asyncTimes);
    await pass(viaSync, syncTimes);
  }
  console.log(JSON.stringify({ ours: median(asyncTimes), sync: median(syncTimes) }));
  process.exit(0);
}

const n = Number(arg('n', smoke ? 5000 : 200_000));
const dim = Number(arg('dim', smoke ? 32 : 384));
const nq = Number(arg('queries', smoke ? 20 : 200));
const reps = Number(arg('reps', smoke ? 1 : 3));
const rounds = Number(arg('rounds', smoke ? 1 : 10));
// CPUs to pin rounds to (both sides of a round on the same one), or none.
const haveTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();
const pinCpus = arg('pin', 'auto') === 'none' || !haveTaskset ? [] : Array.from({ length: availableParallelism() }, (_, i) => i);
const k = 100;
const work = join(repoRoot, '.cache', 'bench-search');
mkdirSync(work, { recursive: true });

// The C++ baseline, built against each FAISS: the one the addon links (1.15, from the cmake-js
// build's FetchContent tree) and Debian's (1.7.3).
const faissSrc = join(repoRoot, 'build/_deps/faiss-src');
const faissLib = join(repoRoot, 'build/_deps/faiss-build/faiss/libfaiss.a');
if (!existsSync(faissLib)) throw new Error(`${faissLib} is missing: run "npm run build:native" first (it builds FAISS 1.15)`);
const src = join(repoRoot, 'bench/native/faiss_search.cc');
const compile = (exe, cflags, libs) => {
  // Rebuilt when the source or the FAISS library (libs[0]) is newer.
  if (!existsSync(exe) || statSync(exe).mtimeMs < Math.max(statSync(src).mtimeMs, statSync(libs[0]).mtimeMs)) {
    execFileSync('g++', ['-O2', '-std=c++20', '-fopenmp', ...cflags, src, '-o', exe, ...libs], { stdio: 'inherit' });
  }
  return exe;
};
const exe = compile(join(work, 'faiss_search_1.15'), ['-isystem', faissSrc], [faissLib, '/usr/lib/x86_64-linux-gnu/libopenblas.so.0']);
const exeDebian = compile(join(work, 'faiss_search_1.7.3'), [], ['/usr/lib/x86_64-linux-gnu/libfaiss.a', '-lblas', '-llapack']);
const faiss = faissInfo();

const all = clustered(n + nq, dim, Math.max(10, Math.round(Math.sqrt(n) / 4)), 42);
const base = all.subarray(0, n * dim);
const queries = all.slice(n * dim);

console.log(
  `bench/search: ${n} × ${dim} clustered vectors, ${nq} queries (Flat: ${Math.min(nq, 20)}), k = ${k}, ` +
    `median per query over ${reps} passes per process, median over ${rounds} rounds of ours / C++ ` +
    (pinCpus.length ? `(both sides of a round pinned to one CPU, CPUs ${pinCpus.join(', ')} in turn)` : '(unpinned)'),
);
// Flat reads every vector per query (~0.1 s here), so it gets fewer queries.
const configs = [
  { factory: 'Flat', params: {}, queries: Math.min(nq, 20) },
  { factory: 'HNSW32', params: { efSearch: 128 }, queries: nq },
  { factory: `IVF${smoke ? 64 : 1024},Flat`, params: { nprobe: 16 }, queries: nq },
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const only = String(arg('only', 'Flat,HNSW,IVF')).split(',');
for (const { factory, params, queries: nqc } of configs.filter((c) => only.some((o) => c.factory.startsWith(o)))) {
  const idx = FaissIndex.create(dim, factory, { metric: 'l2' });
  if (!idx.isTrained) await idx.train(base.subarray(0, Math.min(n, 50_000) * dim));
  await idx.add(base);
  const file = join(work, `${factory.replace(/,/g, '_')}.faiss`);
  await idx.save(file);
  const qf = join(work, `queries-${dim}-${nqc}.f32`);
  writeFileSync(qf, Buffer.from(queries.buffer, 0, nqc * dim * 4));
  const args = [file, qf, String(dim), String(k), String(reps), String(params.nprobe ?? 0), String(params.efSearch ?? 0)];
  // FAISS 1.15 vs 1.7.3 on Flat and IVF (HNSW: the two builds' graphs differ; not compared).
  const versus = !factory.startsWith('HNSW');
  const cpp = [];
  const ours = [];
  const sync = [];
  const debian = [];
  const modern = [];
  const cpus = [];
  const idsOf = (f) => {
    const b = readFileSync(f);
    return new BigInt64Array(b.buffer, b.byteOffset, b.length / 8);
  };
  let identical = null;
  for (let r = 0; r < rounds; r++) {
    // Pinned: `taskset -c CPU program args`; the CPU alternates between rounds.
    const cpu = pinCpus.length ? pinCpus[r % pinCpus.length] : null;
    const runPinned = (file, argv) =>
      cpu === null ? execFileSync(file, argv, { encoding: 'utf8' }) : execFileSync('taskset', ['-c', String(cpu), file, ...argv], { encoding: 'utf8' });
    const idsNew = join(work, 'ids-1.15.i64');
    const idsOld = join(work, 'ids-1.7.3.i64');
    cpp.push(Number(runPinned(exe, [...args, idsNew]).trim()));
    const m = JSON.parse(runPinned(process.execPath, [fileURLToPath(import.meta.url), '--measure', ...args]).trim());
    ours.push(m.ours);
    sync.push(m.sync);
    if (versus) {
      // The 1.15 figure of this comparison is the C++ run above; 1.7.3 runs right after it.
      debian.push(Number(runPinned(exeDebian, [...args, idsOld]).trim()));
      modern.push(cpp[cpp.length - 1]);
      if (identical === null) {
        const a = idsOf(idsNew);
        const b = idsOf(idsOld);
        let same = 0;
        for (let q = 0; q < nqc; q++) if (a.subarray(q * k, (q + 1) * k).join() === b.subarray(q * k, (q + 1) * k).join()) same++;
        identical = same;
      }
    }
    cpus.push(cpu);
  }
  const ratio = (xs) => median(xs.map((x, i) => x / cpp[i]));
  const c = median(cpp);
  console.log(
    `  ${factory.padEnd(14)} C++ ${c.toFixed(1).padStart(9)} µs   crossrank search() ${median(ours).toFixed(1).padStart(9)} µs (${ratio(ours).toFixed(3)}×)   ` +
      `searchSync() ${median(sync).toFixed(1).padStart(9)} µs (${ratio(sync).toFixed(3)}×)   goal ≤ 1.05×`,
  );
  console.log(
    `      rounds (cpu: C++ / search() / searchSync() µs): ` +
      cpp.map((x, i) => `${cpus[i] ?? '-'}: ${x.toFixed(0)}/${ours[i].toFixed(0)}/${sync[i].toFixed(0)}`).join('  '),
  );
  if (versus) {
    const speedup = median(debian.map((x, i) => x / modern[i]));
    console.log(
      `  ${factory.padEnd(14)} FAISS 1.7.3 (Debian) ${median(debian).toFixed(1).padStart(9)} µs   FAISS ${faiss.version} (${faiss.simdLevel}) ${median(modern).toFixed(1).padStart(9)} µs   ` +
        `speed-up ${speedup.toFixed(2)}×   goal ≥ 3×${factory === 'Flat' ? ', identical results' : ''}   identical ids on ${identical}/${nqc} queries`,
    );
    console.log(`      rounds (cpu: 1.7.3 / ${faiss.version} µs): ` + debian.map((x, i) => `${cpus[i] ?? '-'}: ${x.toFixed(0)}/${modern[i].toFixed(0)}`).join('  '));
  }
}
