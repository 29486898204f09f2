// Benchmarks run in --test smoke mode so they never rot; speed itself is never asserted here.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';

describe('benchmarks (smoke)', () => {
  it('bench/tokenize --test runs and its ids agree with the reference', () => {
    const out = execFileSync(process.execPath, ['bench/tokenize.js', '--test'], { encoding: 'utf8' });
    expect(out).toContain('identical ids on these pairs: 50/50');
    expect(out).toMatch(/encodeBatch 2 threads vs HF Promise.all: +[\d.]+×/);
  });

  it('bench/rerank --test runs every contender and prints the ratios', () => {
    const out = execFileSync(process.execPath, ['bench/rerank.js', '--test'], { encoding: 'utf8' });
    for (const model of ['bert', 'xlm-r', 'modernbert']) for (const dtype of ['fp32', 'q8']) expect(out).toContain(`\n${model} ${dtype}:`);
    expect(out.match(/crossrank \/ ORT floor \(time\): +[\d.]+×/g)).toHaveLength(6);
    expect(out.match(/speed-up vs transformers.js: +[\d.]+×/g)).toHaveLength(6);
  }, 180_000);

  it('bench/throughput --test runs every layout and measures RSS per worker', () => {
    const out = execFileSync(process.execPath, ['bench/throughput.js', '--test'], { encoding: 'utf8' });
    expect(out.match(/pool 2 workers × 1 thread +[\d.]+ pairs\/s/g)).toHaveLength(2);
    expect(out).toMatch(/fp32: each extra worker adds [\d.]+ MiB/);
  }, 180_000);

  it('bench/search --test compares the binding with FAISS from C++', () => {
    const out = execFileSync(process.execPath, ['bench/search.js', '--test'], { encoding: 'utf8' });
    expect(out.match(/C\+\+ +[\d.]+ µs +crossrank search\(\) +[\d.]+ µs/g)).toHaveLength(3);
  }, 180_000);

  it('bench/scale --test builds IVF-PQ and HNSW and reports latency and recall', () => {
    const out = execFileSync(process.execPath, ['bench/scale.js', '--test'], { encoding: 'utf8' });
    expect(out).toMatch(/\| IVF64,PQ16 nprobe 8 \| 20000 \|/);
    expect(out).toMatch(/\| HNSW32 ef 128 \| 5000 \|.*\| (0\.\d+|1\.000) \| (0\.\d+|1\.000) \| (0\.\d+|1\.000) \|/);
  }, 180_000);

  it('bench/planner --test runs budgeted two-stage searches and reports how they kept to the budget', () => {
    const out = execFileSync(process.execPath, ['bench/planner.js', '--test'], { encoding: 'utf8' });
    expect(out.match(/budget +\d+ ms: reranked [\d.]+ of 100 .* within budget \d+\/4/g)).toHaveLength(2);
  }, 180_000);

  it('bench/bm25 --test indexes and searches synthetic documents', () => {
    const out = execFileSync(process.execPath, ['bench/bm25.js', '--test'], { encoding: 'utf8' });
    expect(out).toMatch(/index build [\d.]+ s \(\d+ docs\/s\)/);
    expect(out).toMatch(/p50 [\d.]+ ms, p99 [\d.]+ ms/);
  }, 180_000);

  it('bench/server --test compares HTTP /rerank with in-process rerank', () => {
    const out = execFileSync(process.execPath, ['bench/server.js', '--test'], { encoding: 'utf8' });
    expect(out).toMatch(/in-process [\d.]+ ms, HTTP [\d.]+ ms per request/);
    expect(out).toMatch(/in flight: in-process [\d.]+ requests\/s, HTTP [\d.]+ requests\/s/);
  }, 180_000);
});
