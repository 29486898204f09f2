// BM25 dynamic pruning (MaxScore with block-max bounds, the default search) must return exactly
// what exhaustive evaluation of every posting returns: the same documents in the same order with
// the same float scores, ties broken by the lower document number.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bm25Index, loadBeir, loadCranfield, type Bm25Hits } from '../src/index.js';
import { requireShared } from './shared.js';

/** Pruned and exhaustive results of `queries`, compared one by one; returns how many hits. */
async function expectSameAsExhaustive(idx: Bm25Index, queries: string[], k: number): Promise<number> {
  const pruned = await idx.searchBatch(queries, k);
  const exhaustive = await idx.searchBatch(queries, k, { exhaustive: true });
  let hits = 0;
  for (let q = 0; q < queries.length; q++) {
    const p = pruned[q]!;
    const e = exhaustive[q]!;
    if (p.docs.length !== e.docs.length || p.docs.some((d, i) => d !== e.docs[i] || p.scores[i] !== e.scores[i])) {
      // One readable failure naming the query and the first rank that differs.
      expect({ query: queries[q], k, docs: Array.from(p.docs), scores: Array.from(p.scores) }).toEqual({
        query: queries[q], k, docs: Array.from(e.docs), scores: Array.from(e.scores),
      });
    }
    expectRanked(e);
    hits += e.docs.length;
  }
  return hits;
}

/** Scores never increase down the list; equal scores come in increasing document order. */
function expectRanked(r: Bm25Hits): void {
  for (let i = 1; i < r.docs.length; i++) {
    const ok = r.scores[i - 1]! > r.scores[i]! || (r.scores[i - 1] === r.scores[i] && r.docs[i - 1]! < r.docs[i]!);
    if (!ok) expect({ rank: i, prev: [r.docs[i - 1], r.scores[i - 1]], cur: [r.docs[i], r.scores[i]] }).toBe('ranked');
  }
}

/** A deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('BM25 pruned search equals exhaustive', () => {
  it('on every ArguAna query, k = 100 and k = 10', async () => {
    const c = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    const idx = Bm25Index.create();
    await idx.add(c.docs.map((d) => `${d.title} ${d.text}`));
    const qs = c.queries.map((q) => q.text);
    expect(qs.length).toBeGreaterThan(1000);
    expect(await expectSameAsExhaustive(idx, qs, 100)).toBe(qs.length * 100);
    await expectSameAsExhaustive(idx, qs.slice(0, 300), 10);
  }, 120_000);

  it('on every Cranfield query, k = 100 and k = 1400 (every match)', async () => {
    const c = loadCranfield(requireShared('fixtures/ir/cranfield'));
    const idx = Bm25Index.create();
    await idx.add(c.docs.map((d) => `${d.title} ${d.text}`));
    const qs = c.queries.map((q) => q.text);
    expect(qs.length).toBe(225);
    await expectSameAsExhaustive(idx, qs, 100);
    await expectSameAsExhaustive(idx, qs, 1400);
  }, 60_000);

  it('on random collections with adversarial ties, deletions, several batches and a reload', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-bm25-prune-'));
    for (const [seed, vocab, nDocs] of [[1, 4, 9000], [2, 12, 6000], [3, 40, 3000]] as const) {
      const r = rng(seed);
      const words = Array.from({ length: vocab }, (_, i) => `w${i}x`);
      const pick = () => words[Math.floor(r() ** 2 * vocab)]!;  // skewed: a few very common words
      const docs: string[] = [];
      for (let i = 0; i < nDocs; i++) {
        if (i > 0 && r() < 0.3) {
          docs.push(docs[Math.floor(r() * docs.length)]!);  // duplicates: equal scores
          continue;
        }
        const len = 1 + Math.floor(r() * (r() < 0.5 ? 3 : 12));  // many equal lengths, so equal norms
        docs.push(Array.from({ length: len }, pick).join(' '));
      }
      const idx = Bm25Index.create();
      // Uneven batches: block bounds are extended across a partial last block.
      for (let a = 0; a < nDocs; ) {
        const b = Math.min(nDocs, a + 1 + Math.floor(r() * 700));
        await idx.add(docs.slice(a, b));
        a = b;
      }
      const queries = [
        ...words.map((w) => w),  // single terms: every match ties with its duplicates
        ...words.map((w) => `${w} ${w} ${w}`),  // repeated terms
        'absentterm', `${words[0]} absentterm`,
        ...Array.from({ length: 40 }, () => Array.from({ length: 1 + Math.floor(r() * 8) }, pick).join(' ')),
      ];
      for (const k of [1, 7, 100, 1000, nDocs + 5]) await expectSameAsExhaustive(idx, queries, k);
      // Delete a fifth (including most of the top of a common word), then again.
      const top = await idx.search(words[0]!, 500, { exhaustive: true });
      const gone = new Set<number>(Array.from(top.docs).slice(0, 400));
      for (let i = 0; i < nDocs / 5; i++) gone.add(Math.floor(r() * nDocs));
      expect(idx.remove([...gone])).toBe(gone.size);
      for (const k of [1, 100, nDocs]) await expectSameAsExhaustive(idx, queries, k);
      const after = await idx.search(words[0]!, nDocs);
      expect(Array.from(after.docs).some((d) => gone.has(d))).toBe(false);
      // Saved (format 2, bounds stored) and loaded: the same results.
      const file = join(dir, `r${seed}.bin`);
      await idx.save(file);
      const back = await Bm25Index.load(file);
      const before = await idx.searchBatch(queries, 100);
      const reloaded = await back.searchBatch(queries, 100);
      expect(reloaded.map((x) => Array.from(x.docs))).toEqual(before.map((x) => Array.from(x.docs)));
      expect(reloaded.map((x) => Array.from(x.scores))).toEqual(before.map((x) => Array.from(x.scores)));
      await expectSameAsExhaustive(back, queries, 50);
    }
  }, 120_000);

  it('k larger than the matches returns every match; nothing matches gives nothing', async () => {
    const idx = Bm25Index.create();
    await idx.add(['alpha beta', 'alpha', 'gamma', 'alpha beta', '']);
    const r = await idx.search('alpha beta', 1000);
    expect(Array.from(r.docs)).toEqual([0, 3, 1]);  // 0 and 3 tie: lower number first
    expect(r.scores[0]).toBe(r.scores[1]);
    expect(r.scores[1]!).toBeGreaterThan(r.scores[2]!);
    expect((await idx.search('delta', 10)).docs.length).toBe(0);
    expect((await idx.search('', 10)).docs.length).toBe(0);
  });

  it('a format-1 file (bounds computed at load) searches like its format-2 re-save', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-bm25-v1-'));
    const v1 = join(dir, 'v1.bin');
    copyFileSync(join(import.meta.dirname, 'fixtures/collection-v1/bm25.6.bin'), v1);
    const idx = await Bm25Index.load(v1);
    expect(idx.size).toBeGreaterThan(0);
    // Words of the fixture's documents (its terms: bridg, forest, garden, river, document, …).
    const queries = ['bridge forest', 'garden light number', 'river silver stone window', 'paper engine music cloud', 'document replaced third', 'tide last volcano', 'about'];
    const hits = await idx.searchBatch(queries, 100, { exhaustive: true });
    expect(hits.every((h) => h.docs.length > 0)).toBe(true);
    await expectSameAsExhaustive(idx, queries, 100);
    await idx.save(join(dir, 'v2.bin'));
    const v2 = await Bm25Index.load(join(dir, 'v2.bin'));
    const a = await idx.searchBatch(queries, 100);
    const b = await v2.searchBatch(queries, 100);
    expect(b.map((x) => Array.from(x.docs))).toEqual(a.map((x) => Array.from(x.docs)));
    expect(b.map((x) => Array.from(x.scores))).toEqual(a.map((x) => Array.from(x.scores)));
  });
});
