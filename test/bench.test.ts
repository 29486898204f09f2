// Benchmarks run in --test smoke mode so they never rot; speed itself is never asserted here. What
// is checked is that each figure printed is a finite number of the right sign and agrees with the
// figures it is derived from (a ratio with its two sides, a rate with its count and time, a
// percentile order), so a bench that prints a wrong or made-up figure fails.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';

const run = (bench: string) => execFileSync(process.execPath, [`bench/${bench}.js`, '--test'], { encoding: 'utf8' });

/** The numbers captured by `re` (which must match `out`). */
function figures(out: string, re: RegExp): number[] {
  const m = re.exec(out);
  expect(m, `${re} in:\n${out}`).not.toBeNull();
  const xs = m!.slice(1).map(Number);
  for (const x of xs) expect(Number.isFinite(x), `${re}: ${m![0]}`).toBe(true);
  return xs;
}
/** Every match of a global `re`, as numbers (at least one). */
function all(out: string, re: RegExp): number[][] {
  const rows = [...out.matchAll(re)].map((m) => m.slice(1).map(Number));
  expect(rows.length, `${re} in:\n${out}`).toBeGreaterThan(0);
  for (const r of rows) for (const x of r) expect(Number.isFinite(x)).toBe(true);
  return rows;
}
/** `printed` (rounded for print) agrees with `exact` within `rel` (plus the last printed digit). */
function agrees(printed: number, exact: number, rel = 0.02, digit = 0.01): void {
  expect(Math.abs(printed - exact)).toBeLessThanOrEqual(rel * Math.abs(exact) + digit);
}

describe('benchmarks (smoke)', () => {
  it('bench/tokenize --test: ids agree with the reference; ratios agree with the rates', () => {
    const out = run('tokenize');
    expect(out).toContain('identical ids on these pairs: 50/50');
    const rate: Record<string, number> = {};
    for (const m of out.matchAll(/│ (\w+)\s+│\s+(\d+)\s+│/g)) rate[m[1]!] = Number(m[2]);
    for (const k of ['hfSequential', 'hfPromiseAll', 'oursSequential', 'oursBatch1', 'oursBatch2']) expect(rate[k]).toBeGreaterThan(0);
    agrees(figures(out, /encode\(\) sequential vs HF sequential encode: ([\d.]+)×/)[0]!, rate.oursSequential / rate.hfSequential);
    agrees(figures(out, /encodeBatch 2 threads vs HF Promise\.all: +([\d.]+)×/)[0]!, rate.oursBatch2 / rate.hfPromiseAll);
    const [big, r, small, linear, perSmall, perBig] = figures(out, /linear time: ([\d.]+) MB took ([\d.]+)× the time of ([\d.]+) MB \(linear would be ([\d.]+)×; ([\d.]+) vs ([\d.]+) ms per MB/);
    expect(linear).toBeCloseTo(big! / small!, 6);
    expect(perSmall).toBeGreaterThan(0);
    agrees(r!, (perBig! * big!) / (perSmall! * small!));
  });

  it('bench/rerank --test: every contender timed; rates agree with times, ratios with their sides', () => {
    const out = run('rerank');
    const [n] = figures(out, /bench\/rerank: (\d+) ArguAna documents/);
    for (const model of ['bert', 'xlm-r', 'modernbert']) for (const dtype of ['fp32', 'q8']) {
      expect(out).toContain(`\n${model} ${dtype}:`);
      const block = out.slice(out.indexOf(`\n${model} ${dtype}:`));
      const ms = (label: string) => {
        const [t, pps] = figures(block, new RegExp(`${label} +([\\d.]+) ms +([\\d.]+) pairs/s`));
        expect(t).toBeGreaterThan(0);
        agrees(pps!, n! / (t! / 1000), 0.01, 0.1);
        return t!;
      };
      const tjs = Math.min(ms('transformers\\.js batch 1 '), ms('transformers\\.js batch 32'), ms(`transformers\\.js batch ${n}`));
      const floor = ms('ORT floor \\(pre-tokenized\\)');
      const ours = ms('crossrank');
      agrees(figures(block, /crossrank \/ ORT floor \(time\): ([\d.]+)×/)[0]!, ours / floor);
      agrees(figures(block, /ORT floor vs transformers\.js: ([\d.]+)×/)[0]!, tjs / floor);
      agrees(figures(block, /speed-up vs transformers\.js: +([\d.]+)×/)[0]!, tjs / ours);
    }
  }, 180_000);

  it('bench/throughput --test: every layout, per-core rates and ratios consistent, RSS per worker from the RSS figures', () => {
    const out = run('throughput');
    for (const dtype of ['fp32', 'q8']) {
      const block = out.slice(out.indexOf(`\n${dtype}, `), out.indexOf('\n\n', out.indexOf(`\n${dtype}, `) + 2));
      const rate: Record<string, number> = {};
      for (const [name, workers, threads] of [
        ['in-process, 1 thread', 1, 1],
        ['in-process, 2 threads', 1, 2],
        ['pool 1 worker × 1 thread', 1, 1],
        ['pool 2 workers × 1 thread', 2, 1],
        ['pool 1 worker × 2 threads', 1, 2],
      ] as const) {
        const [pps, perCore] = figures(block, new RegExp(`${name} +([\\d.]+) pairs/s +([\\d.]+) pairs/s per core`));
        expect(pps).toBeGreaterThan(0);
        agrees(perCore!, pps! / (workers * threads), 0.01, 0.1);
        rate[name] = pps!;
      }
      const [vsOne, vsWide] = figures(block, /2 workers × 1 thread vs 1 worker × 1 thread: ([\d.]+)× \(goal ≥ 1\.90×\); vs 1 worker × 2 threads: ([\d.]+)×/);
      agrees(vsOne!, rate['pool 2 workers × 1 thread']! / rate['pool 1 worker × 1 thread']!);
      agrees(vsWide!, rate['pool 2 workers × 1 thread']! / rate['pool 1 worker × 2 threads']!);
      const [size, inProcess, one, , four] = figures(out, new RegExp(`${dtype}: model file ([\\d.]+) MiB; in-process (\\d+) MiB; 1 worker (\\d+) MiB, 2 workers (\\d+) MiB, 4 workers (\\d+) MiB`));
      expect(size).toBeGreaterThan(0);
      expect(inProcess).toBeGreaterThan(0);
      const [perWorker, share] = figures(out, new RegExp(`${dtype}: each extra worker adds (-?[\\d.]+) MiB = (-?[\\d.]+) % of the model file`));
      expect(Math.abs(perWorker! - (four! - one!) / 3)).toBeLessThanOrEqual(0.5); // RSS printed in whole MiB
      agrees(share!, (100 * perWorker!) / size!, 0.03, 0.1);
    }
  }, 180_000);

  it('bench/search --test: the binding and FAISS from C++ timed for Flat, HNSW and IVF; FAISS 1.15 against Debian 1.7.3 on Flat and IVF; ratios from the rounds', () => {
    const out = run('search');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const factory of ['Flat', 'HNSW32', 'IVF64,Flat']) {
      const [cpp, ours, oursRatio, sync, syncRatio] = figures(out, new RegExp(`${factory} +C\\+\\+ +([\\d.]+) µs +crossrank search\\(\\) +([\\d.]+) µs \\(([\\d.]+)×\\) +searchSync\\(\\) +([\\d.]+) µs \\(([\\d.]+)×\\)`));
      for (const t of [cpp, ours, sync]) expect(t).toBeGreaterThan(0);
      const line = new RegExp(`${factory} +C\\+\\+[^\\n]*\\n +rounds \\(cpu: C[^\\n]*?µs\\): ([^\\n]*)`).exec(out)![1]!;
      const rounds = all(line, /(?:\d+|-): (\d+)\/(\d+)\/(\d+)/g);
      // The rounds are printed in whole µs: allow for that rounding.
      agrees(oursRatio!, median(rounds.map(([c, o]) => o! / c!)), 0.04);
      agrees(syncRatio!, median(rounds.map(([c, , s]) => s! / c!)), 0.04);
    }
    expect(out).not.toMatch(/HNSW32 +FAISS 1\.7\.3/);
    for (const factory of ['Flat', 'IVF64,Flat']) {
      const m = new RegExp(`${factory} +FAISS 1\\.7\\.3 \\(Debian\\) +([\\d.]+) µs +FAISS 1\\.15\\.0 \\((NONE|AVX2|AVX512|AVX512_SPR)\\) +([\\d.]+) µs +speed-up ([\\d.]+)× +goal ≥ 3×[^\\n]* identical ids on (\\d+)/(\\d+) queries\\n +rounds \\(cpu: 1\\.7\\.3 / 1\\.15\\.0 µs\\): ([^\\n]*)`).exec(out);
      expect(m, `${factory} 1.7.3 vs 1.15 in:\n${out}`).not.toBeNull();
      const [old, modern, speedup, same, nq] = [m![1], m![3], m![4], m![5], m![6]].map(Number);
      for (const t of [old!, modern!]) expect(t).toBeGreaterThan(0);
      const rounds = all(m![7]!, /(?:\d+|-): (\d+)\/(\d+)/g);
      agrees(speedup!, median(rounds.map(([o, n]) => o! / n!)), 0.04);
      expect(same).toBeLessThanOrEqual(nq!);
      // Exact search: both FAISS versions return the same neighbours for every query.
      if (factory === 'Flat') expect(same).toBe(nq);
    }
  }, 300_000);

  it('bench/scale --test: plain IVF-PQ, fast-scan + refine and HNSW built; times, percentiles and recalls in range; the goal line quotes the table', () => {
    const out = run('scale');
    const row = (name: string, n: number) => {
      const [vectors, build, train, , p50, p99, r1, r10, r100, at10] = figures(
        out,
        new RegExp(`\\| ${name.replace(/[()]/g, '\\$&')} \\| (\\d+) \\| ([\\d.]+) \\(([\\d.]+)\\) \\| (\\d+) \\| -?\\d+ \\| ([\\d.]+) \\| ([\\d.]+) \\| ([\\d.]+) \\| ([\\d.]+) \\| ([\\d.]+) \\| ([\\d.]+) \\|`),
      );
      expect(vectors).toBe(n);
      expect(build).toBeGreaterThanOrEqual(train!);
      expect(p50).toBeGreaterThan(0);
      expect(p99).toBeGreaterThanOrEqual(p50!);
      for (const r of [r1, r10, r100, at10]) expect(r! >= 0 && r! <= 1).toBe(true);
      return { p50: p50!, r100: r100! };
    };
    const plain = row('IVF64,PQ16 nprobe 8', 20000);
    const refined = row('IVF64,PQ16x4fs,RFlat nprobe 8 kf 4', 20000);
    row('HNSW32 ef 128', 5000);
    const m = /goal: recall@100 ≥ 0\.9 at p50 ≤ 20 ms at 20000 vectors: (met|not met) \((.+?): p50 ([\d.]+) ms, recall@100 ([\d.]+), the best recall within 20 ms; IVF64,PQ16 at best: recall@100 ([\d.]+)\)/.exec(out);
    expect(m, out).not.toBeNull();
    const quoted = row(m![2]!, 20000);
    expect(Number(m![3])).toBe(quoted.p50);
    expect(Number(m![4])).toBe(quoted.r100);
    expect(m![1]).toBe(quoted.r100 >= 0.9 ? 'met' : 'not met');
    expect(Number(m![5])).toBe(plain.r100);
    // The quoted setting is the best recall among those within 20 ms.
    for (const r of [plain, refined]) if (r.p50 <= 20) expect(quoted.r100).toBeGreaterThanOrEqual(r.r100);
  }, 300_000);

  it('bench/planner --test: budgeted searches; counts, percentiles and the share within budget consistent', () => {
    const out = run('planner');
    const rows = all(out, /budget +(\d+) ms: reranked ([\d.]+) of (\d+) \((\d+)–(\d+)\); end to end p50 (\d+) ms, p95 (\d+) ms, max (\d+) ms; rerank time vs prediction median -?[\d.]+ %; within budget (\d+)\/(\d+) \((\d+) %\)/g);
    expect(rows.map((r) => r[0])).toEqual([20, 50]);
    for (const [, mean, candidates, lo, hi, p50, p95, max, within, n, pct] of rows) {
      expect(candidates).toBe(100);
      expect(lo).toBeGreaterThanOrEqual(1);
      expect(mean! >= lo! && mean! <= hi! && hi! <= candidates!).toBe(true);
      expect(p50! <= p95! && p95! <= max!).toBe(true);
      expect(n).toBe(4);
      expect(within).toBeLessThanOrEqual(n!);
      expect(pct).toBe(Math.round((100 * within!) / n!));
    }
  }, 180_000);

  it('bench/cascade --test: mean times per search, the ratio of the two and the stage times consistent', () => {
    const out = run('cascade');
    const [oneMs] = figures(out, /one stage \(large over 100\): ([\d.]+) ms per search/);
    const [keep, casMs, firstMs, smallMs, largeMs] = figures(out, /cascade \(small 100 → (\d+), large \d+ → 10\): ([\d.]+) ms per search \(first stage ([\d.]+) ms, small ([\d.]+) ms, large ([\d.]+) ms\)/);
    expect(keep).toBe(20);
    expect(firstMs! + smallMs! + largeMs!).toBeLessThanOrEqual(casMs! + 0.15);
    const [r, shared] = figures(out, /one stage \/ cascade: ([\d.]+)×; top 10 shared with the one-stage ranking: ([\d.]+) of 10/);
    agrees(r!, oneMs! / casMs!);
    expect(shared! >= 0 && shared! <= 10).toBe(true);
  }, 180_000);

  it('bench/bm25 --test: pruned equals exhaustive; build rate, percentiles and speed-ups agree with their figures', () => {
    const out = run('bm25');
    const [argDocs, argQueries, argK] = figures(out, /ArguAna (\d+) documents, (\d+) queries: top (\d+) pruned vs exhaustive: identical/);
    expect(argDocs! > 8000 && argQueries! > 1000 && argK === 100).toBe(true);
    const [docs, words, terms] = figures(out, /bench\/bm25: (\d+) documents of (\d+) words, (\d+) terms/);
    expect(docs! > 0 && words! > 0 && terms! > 0).toBe(true);
    const [seconds, rate] = figures(out, /index build ([\d.]+) s \((\d+) docs\/s\)/);
    expect(seconds).toBeGreaterThan(0);
    // Seconds are printed to 0.1: the rate must lie within what that rounding allows.
    expect(rate! >= docs! / (seconds! + 0.05) - 1 && rate! <= docs! / Math.max(seconds! - 0.05, 1e-3) + 1).toBe(true);
    const [k, nq] = figures(out, /top (\d+) pruned vs exhaustive on (\d+) ArguAna queries: identical/);
    expect(k === 100 && nq! > 0).toBe(true);
    const [e50, e99] = figures(out, /exhaustive search \(k = 100, one thread\): p50 ([\d.]+) ms, p99 ([\d.]+) ms/);
    const [p50, p99] = figures(out, /pruned +search \(k = 100, one thread\): p50 ([\d.]+) ms, p99 ([\d.]+) ms/);
    expect(e50! > 0 && e50! <= e99! && p50! > 0 && p50! <= p99!).toBe(true);
    const [s50, s99] = figures(out, /pruned speed-up: p50 ([\d.]+)×, p99 ([\d.]+)×/);
    agrees(s50!, e50! / p50!, 0.02, 0.01 + (0.001 * e50!) / p50! ** 2);
    agrees(s99!, e99! / p99!, 0.02, 0.01 + (0.001 * e99!) / p99! ** 2);
  }, 180_000);

  it('bench/server --test: HTTP and in-process timed; the difference and ratios agree with them', () => {
    const out = run('server');
    const [inProc, http, added, times] = figures(out, /one at a time: in-process ([\d.]+) ms, HTTP ([\d.]+) ms per request \(median\) → the service adds (-?[\d.]+) ms \(([\d.]+)×\)/);
    expect(inProc! > 0 && http! > 0).toBe(true);
    expect(Math.abs(added! - (http! - inProc!))).toBeLessThanOrEqual(0.011);
    agrees(times!, http! / inProc!);
    const [rpsIn, rpsHttp, r] = figures(out, /\d+ in flight: in-process ([\d.]+) requests\/s, HTTP ([\d.]+) requests\/s \(([\d.]+)×\)/);
    expect(rpsIn! > 0 && rpsHttp! > 0).toBe(true);
    agrees(r!, rpsHttp! / rpsIn!, 0.02, 0.001);
  }, 180_000);

  it('bench/eventloop --test: searches completed while the index trained; delays ordered and the goal line agrees', () => {
    const out = run('eventloop');
    const [n, , searches] = figures(out, /bench\/eventloop: (\d+) vectors, IVF\d+,Flat trained while searching \(([\d.]+) s, (\d+) searches completed meanwhile\)/);
    expect(n).toBe(20000);
    expect(searches).toBeGreaterThan(0);
    const [max, p99, p50] = figures(out, /while training: max ([\d.]+) ms, p99 ([\d.]+) ms, p50 ([\d.]+) ms/);
    expect(p50! <= p99! && p99! <= max!).toBe(true);
    const [imax, ip99, ip50] = figures(out, /idle: +max ([\d.]+) ms, p99 ([\d.]+) ms, p50 ([\d.]+) ms/);
    expect(ip50! <= ip99! && ip99! <= imax!).toBe(true);
    expect(out).toContain(`goal: max < 50 ms while training: ${max! < 50 ? 'met' : 'not met'}`);
  }, 180_000);
});
