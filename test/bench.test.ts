// Benchmarks run in --test smoke mode so they never rot; speed itself is never asserted here.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { haveShared } from './shared.js';

describe.skipIf(!haveShared)('benchmarks (smoke)', () => {
  it('bench/tokenize --test runs and its ids agree with the reference', () => {
    const out = execFileSync(process.execPath, ['bench/tokenize.js', '--test'], { encoding: 'utf8' });
    expect(out).toContain('identical ids on these pairs: 50/50');
    expect(out).toMatch(/encodeBatch 2 threads vs HF Promise.all: +[\d.]+×/);
  });

  it('bench/rerank --test runs every contender and prints the ratios', () => {
    const out = execFileSync(process.execPath, ['bench/rerank.js', '--test'], { encoding: 'utf8' });
    for (const dtype of ['fp32', 'q8']) expect(out).toContain(`\n${dtype}:`);
    expect(out.match(/crossrank \/ ORT floor \(time\): +[\d.]+×/g)).toHaveLength(2);
    expect(out.match(/speed-up vs transformers.js: +[\d.]+×/g)).toHaveLength(2);
  }, 180_000);
});
