// FAISS entry points under hostile input (issue 21 crashes 1, 2, 4 and the HNSW1 hang; issue 13's
// getters): each case runs in a child process with a timeout, so a crash or a hang is a red test
// with the signal named, not a dead runner.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaissIndex } from '../src/index.js';
import { errorOf } from './helpers.js';

const dist = JSON.stringify(join(import.meta.dirname, '../dist/index.js'));

/** Runs `body` (an ES module body with FaissIndex in scope) in a child; its last stdout line is JSON. */
function child(body: string, timeout = 60_000): unknown {
  const script = `import { FaissIndex } from ${dist};
    const codeOf = async (f) => { try { await f(); return 'ok'; } catch (e) { return e.code ?? 'untyped: ' + e.message; } };
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout });
  // A signal (SIGSEGV, SIGABRT) or the timeout's SIGTERM fails here with what happened.
  expect({ signal: r.signal, status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-2000) }).toEqual({
    signal: null,
    status: 0,
    stderr: '',
  });
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

/** Deterministic vectors in [-1, 1). */
function vectors(n: number, dim: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n * dim }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 31) - 1);
}

describe('FAISS factory strings are checked before FAISS sees them', () => {
  it('IVF0, HNSW0 and HNSW1 (SIGABRT, SIGSEGV and a hang before) are ERR_INDEX_FACTORY; train/add on what is accepted never crash', () => {
    const out = child(`
      const v = new Float32Array(8 * 300).map((_, i) => Math.sin(i * 0.37));
      const res = {};
      for (const f of ['IVF0,Flat', 'HNSW0', 'HNSW1', 'HNSW2', 'HNSW3,Flat', 'IVF1,Flat', 'IVF2_HNSW2,Flat']) {
        res[f] = await codeOf(async () => {
          const idx = FaissIndex.create(8, f);
          if (!idx.isTrained) await idx.train(v);
          await idx.add(v);
          const r = await idx.search(v.subarray(0, 8), 3);
          if (r.ids[0] < 0n) throw new Error('no result');
        });
      }
      console.log(JSON.stringify(res));`) as Record<string, string>;
    expect(out).toEqual({
      'IVF0,Flat': 'ERR_INDEX_FACTORY',
      HNSW0: 'ERR_INDEX_FACTORY',
      HNSW1: 'ERR_INDEX_FACTORY',
      HNSW2: 'ok',
      'HNSW3,Flat': 'ok',
      'IVF1,Flat': 'ok',
      'IVF2_HNSW2,Flat': 'ok',
    });
  });

  it('zero, huge and non-ASCII counts are refused with the part named; bad ids are typed errors', () => {
    const cases: [string, RegExp][] = [
      ['PQ0', /"PQ0": a count of 0/],
      ['IVF16,PQ8x0', /"x0": a count of 0/],
      ['IVF16,PQ4x24', /"x24": at most 16 bits/],
      ['IVF99999999,Flat', /"IVF99999999"/],
      ['IVF4194304,Flat', /2\^32 centroid floats/], // 4M lists of 2 048 floats: 32 GiB of centroids
      ['HNSW1000', /"HNSW1000": graph degree/],
      ['IMI2x14,Flat', /IMI2x: at most 11 bits/],
      ['PCA9999999999,Flat', /number too large/],
      ['Fl\u00e4t', /printable ASCII/],
      ['', /1 to 256 characters/],
      ['Flat'.repeat(100), /1 to 256 characters/],
    ];
    for (const [factory, message] of cases) {
      let err: (Error & { code?: string }) | undefined;
      try {
        FaissIndex.create(2048, factory);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code, factory).toBe('ERR_INDEX_FACTORY');
      expect(err?.message, factory).toMatch(message);
    }
    // Ids that are not integers are typed errors (they were untyped TypeErrors from BigInt()).
    const flat = FaissIndex.create(4, 'Flat');
    expect(errorOf(() => flat.remove([1.5])).code).toBe('ERR_OUT_OF_RANGE');
    expect(errorOf(() => flat.remove(['abc'] as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => flat.remove(null as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    // FAISS's own refusals stay typed too.
    for (const factory of ['NotAnIndex', 'PQ3', 'IVF16,PQ7']) {
      expect(() => FaissIndex.create(64, factory), factory).toThrow(expect.objectContaining({ code: 'ERR_INDEX_FACTORY' }));
    }
  });
});

// The byte layout of an HNSW file (FAISS's index_write.cpp): the index header, then the graph's
// vectors each as a 64-bit count and its items.
function hnswLayout(buf: Buffer): { neighbors: number; count: number; maxLevel: number } {
  let o = 4 + 4 + 8 + 8 + 8 + 1; // fourcc, d, ntotal, 2 dummies, is_trained
  const metric = buf.readInt32LE(o);
  o += 4;
  if (metric > 1) o += 4; // metric_arg
  const vec = (item: number) => {
    const n = Number(buf.readBigUInt64LE(o));
    const start = o + 8;
    o = start + n * item;
    return { start, n };
  };
  vec(8); // assign_probas (double)
  vec(4); // cum_nneighbor_per_level
  vec(4); // levels
  vec(8); // offsets
  const nb = vec(4); // neighbors (int32)
  return { neighbors: nb.start, count: nb.n, maxLevel: o + 4 }; // entry_point, then max_level
}

describe('damaged FAISS files', () => {
  const dim = 16;
  const dir = mkdtempSync(join(tmpdir(), 'crossrank-faiss-hostile-'));
  const base = vectors(2000, dim, 7);

  it('an HNSW32 file with 2 bytes of a link overwritten (SIGSEGV at search before) is ERR_CORRUPT_INDEX naming the file', async () => {
    const idx = FaissIndex.create(dim, 'HNSW32', { metric: 'l2' });
    await idx.add(base);
    const path = join(dir, 'hnsw.faiss');
    await idx.save(path);
    const good = readFileSync(path);
    // The stored index is IDMap2 over HNSW: skip the IDMap2 header to the inner HNSW one.
    const inner = good.indexOf('IHNf', 4);
    expect(inner).toBeGreaterThan(0);
    const lay = hnswLayout(good.subarray(inner));
    expect(lay.count).toBeGreaterThan(2000 * 32);
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['a link far out of range', (b) => b.writeUInt16LE(0x7f00, inner + lay.neighbors + 4 * 1234 + 2), /neighbors\[1234\]|link 1234/],
      ['a link one past the last node', (b) => b.writeInt32LE(2000, inner + lay.neighbors + 4 * 99), /neighbors\[99\]|link 99/],
      ['a top level above the entry point', (b) => b.writeInt32LE(b.readInt32LE(inner + lay.maxLevel) + 1, inner + lay.maxLevel), /level/],
    ];
    const files = cases.map(([name, damage], i) => {
      const b = Buffer.from(good);
      damage(b);
      const p = join(dir, `damaged-${i}.faiss`);
      writeFileSync(p, b);
      return { name, p };
    });
    const out = child(`
      const q = new Float32Array(${dim}).fill(0.1);
      const res = [];
      for (const p of ${JSON.stringify(files.map((f) => f.p))}) {
        try { const i = await FaissIndex.load(p); await i.search(q, 10); res.push({ code: 'loaded' }); }
        catch (e) { res.push({ code: e.code, message: e.message }); }
      }
      console.log(JSON.stringify(res));`) as { code: string; message: string }[];
    out.forEach((r, i) => {
      expect(r.code, cases[i]![0]).toBe('ERR_CORRUPT_INDEX');
      expect(r.message, cases[i]![0]).toContain(files[i]!.p);
      expect(r.message, cases[i]![0]).toMatch(cases[i]![2]);
    });
  });

  it('300 two-byte overwrites across HNSW, IVF-PQ fast-scan + refine and OPQ files: typed errors or correct loads, never a signal', async () => {
    const paths: string[] = [];
    for (const factory of ['HNSW16', 'IVF16,PQ8x4fs,RFlat', 'OPQ4,IVF16,PQ4']) {
      const idx = FaissIndex.create(dim, factory, { metric: 'l2' });
      if (!idx.isTrained) await idx.train(base);
      await idx.add(base.subarray(0, 500 * dim));
      const p = join(dir, `${factory.replace(/[^A-Za-z0-9]/g, '_')}.faiss`);
      await idx.save(p);
      paths.push(p);
    }
    let s = 12345;
    const rand = (n: number) => (s = (s * 1664525 + 1013904223) >>> 0) % n;
    const damaged: string[] = [];
    for (const [fi, p] of paths.entries()) {
      const good = readFileSync(p);
      for (let i = 0; i < 100; i++) {
        const b = Buffer.from(good);
        b.writeUInt16LE(rand(65536), rand(b.length - 2));
        const q = join(dir, `flip-${fi}-${i}.faiss`);
        writeFileSync(q, b);
        damaged.push(q);
      }
    }
    const out = child(`
      const q = new Float32Array(${dim * 4}).map((_, i) => Math.cos(i));
      const codes = {};
      for (const p of ${JSON.stringify(damaged)}) {
        const c = await codeOf(async () => { const i = await FaissIndex.load(p); await i.search(q, 10, {}); });
        codes[c] = (codes[c] ?? 0) + 1;
      }
      console.log(JSON.stringify(codes));`, 120_000) as Record<string, number>;
    // Only these outcomes: a typed refusal, or a file whose damage left it well-formed.
    expect(Object.keys(out).filter((c) => !['ok', 'ERR_CORRUPT_INDEX'].includes(c))).toEqual([]);
    expect(out.ERR_CORRUPT_INDEX).toBeGreaterThan(0);
  }, 180_000);
});

describe('FAISS getters during a long add', () => {
  it('ntotal / isTrained / nlist answer while an add holds the index (the JS thread never waits for it)', async () => {
    const dim = 64;
    const idx = FaissIndex.create(dim, 'HNSW32');
    const big = vectors(30_000, dim, 3);
    let settled = false;
    const adding = idx.add(big).then(() => (settled = true));
    // Let the add take the index's lock, then read the getters between event-loop turns: each read
    // that returns while the add is still running shows it did not wait for the add.
    await new Promise((r) => setTimeout(r, 100));
    let readsDuringAdd = 0;
    while (!settled && readsDuringAdd < 50) {
      const seen = [idx.ntotal, idx.isTrained, idx.nlist];
      expect(seen).toEqual([0, true, 0]);
      if (!settled) readsDuringAdd++;
      await new Promise((r) => setImmediate(r));
    }
    expect(readsDuringAdd).toBe(50); // a getter that waited would return 30 000 after the add, once
    await adding;
    expect(idx.ntotal).toBe(30_000);
  }, 60_000);
});
