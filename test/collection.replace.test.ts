// Replace-heavy collections: 5 000 replacements of random documents in an HNSW collection (its
// index cannot remove a vector) and an IVF one. Every dense hit must show its document's current
// text, no hit twice, a full top-50 every time, the stale count right after reopening, and
// compact() must bring it to zero.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BiEncoder, Collection } from '../src/index.js';
import { requireShared } from './shared.js';
import { doc, docs, rng } from './fixtures/synthetic-docs.mjs';

const N = 1000;

describe('replace-heavy collections', () => {
  it.each([
    ['HNSW16', {}, 5000],
    ['IVF16,Flat', { trainSize: 500 }, 0],
  ] as const)('%s: 5 000 replacements, then every hit current and distinct, stale count kept, compact() to zero', async (factory, extra, stale) => {
    const embedder = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
    const dir = join(mkdtempSync(join(tmpdir(), 'crossrank-replace-')), 'col');
    let col = await Collection.create(dir, { embedder, bm25: true, factory, ...extra });
    await col.add(docs(0, N), { batchSize: 250 });
    const version = new Array<number>(N).fill(0);
    const random = rng(5);
    for (let round = 0; round < 10; round++) {
      const picked = new Set<number>();
      while (picked.size < 500) picked.add(Math.floor(random() * N));
      const batch = [...picked].map((i) => doc(i, ++version[i]!));
      expect(await col.add(batch, { batchSize: 250 })).toEqual({ added: 0, replaced: 500, skipped: 0 });
    }
    const queries = Array.from({ length: 30 }, (_, q) => doc((q * 37) % N, version[(q * 37) % N]).text);
    const probe = factory.startsWith('IVF') ? { nprobe: 16 } : {};
    const check = async (c: Collection, when: string) => {
      for (const [qi, q] of queries.entries()) {
        for (const first of ['dense', 'hybrid'] as const) {
          const hits = (await c.search(q, { first, candidates: 50, topK: 50, ...probe })).hits;
          expect(hits, `${when}, ${first}, query ${qi}`).toHaveLength(50);
          expect(new Set(hits.map((h) => h.id)).size, `${when}: distinct hits`).toBe(50);
          for (const h of hits) expect(h.text, `${when}: ${h.id}`).toBe(doc(Number(h.id.slice(1)), version[Number(h.id.slice(1))]).text);
        }
        // A replaced document's current text finds it, not a stale vector of an older version.
        expect((await c.search(q, { first: 'dense', topK: 1, ...probe })).hits[0]!.id).toBe(`d${(qi * 37) % N}`);
      }
    };
    expect(col.staleVectors).toBe(stale);
    await check(col, 'before reopening');
    await col.close();
    col = await Collection.open(dir, { embedder });
    expect(col.staleVectors).toBe(stale);
    await check(col, 'reopened');
    const reader = await Collection.open(dir, { embedder, readOnly: true, refreshIntervalMs: 0 });
    expect(reader.staleVectors).toBe(stale);
    await check(reader, 'read-only');
    expect(await col.compact()).toEqual({ staleVectors: stale, bm25Tombstones: 5000 });
    expect(col.staleVectors).toBe(0);
    await check(col, 'compacted');
    expect(await col.verify({ sample: 50 })).toMatchObject({ ok: true, documents: N, checked: { bm25: { entries: N, live: N }, dense: { vectors: N, stale: 0 } } });
    await col.close();
    // The reader still searches the checkpoint it loaded, then picks up the compacted one.
    await check(reader, 'read-only, before refresh');
    expect(await reader.refresh()).toBe(true);
    expect(reader.staleVectors).toBe(0);
    await check(reader, 'read-only, refreshed');
    await reader.close();
  }, 120_000);
});
