// Hostile BM25 files and calls: every count, offset, id and bound read from a file is checked
// before use, so a damaged file is a typed ERR_CORRUPT_INDEX naming the file and the fault, or (when
// the damage leaves a consistent index) loads and searches correctly — never a crash or a read out
// of bounds. The damaged-file corpus runs in a child process with a timeout, so a crash is a red
// test rather than a dead runner.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bm25Index } from '../src/index.js';
import { errorOf, rejectionOf } from './helpers.js';

const DOCS = [
  'supersonic flow over wings', 'boundary layer transition', 'wings and flutter flutter flutter', 'flow flow flow',
  'heat transfer in the boundary layer', 'shock waves in supersonic flow', 'laminar flow over a flat plate',
];
/** 700 documents in three batches, so common terms span several blocks of 128 postings. */
async function sample(): Promise<Bm25Index> {
  const idx = Bm25Index.create();
  for (let batch = 0; batch < 3; batch++) await idx.add(Array.from({ length: 233 + batch }, (_, i) => `${DOCS[(i * 3 + batch) % DOCS.length]} item${i % 50}`));
  idx.remove([3, 10, 400]);
  return idx;
}

/** Byte offsets of the fields of a format-2 file (the layout documented in native/index/bm25.cc). */
function layout(buf: Buffer) {
  let o = 8 + 4 + 4;
  o += 4 + buf.readUInt32LE(o) + 1 + 4;  // stemmer, stopwords, block size
  const nAt = o;
  const n = Number(buf.readBigUInt64LE(o));
  o += 8 + 2 * n + 8;
  const termCountAt = o;
  const nt = Number(buf.readBigUInt64LE(o));
  o += 8;
  const terms: { text: string; countAt: number; postingsAt: number; np: number; boundsAt: number }[] = [];
  for (let t = 0; t < nt; t++) {
    const len = buf.readUInt32LE(o);
    const text = buf.toString('utf8', o + 4, o + 4 + len);
    o += 4 + len;
    const countAt = o;
    const np = Number(buf.readBigUInt64LE(o));
    o += 8;
    const postingsAt = o;
    o += 8 * np;
    const boundsAt = o;
    for (let b = 0; b < Math.ceil(np / 128); b++) o += 1 + 5 * buf[o]!;
    o += 2 + 5 * buf.readUInt16LE(o);
    terms.push({ text, countAt, postingsAt, np, boundsAt });
  }
  expect(o).toBe(buf.length);
  return { n, nAt, termCountAt, terms };
}

describe('BM25 index files', () => {
  it('crafted files give ERR_CORRUPT_INDEX naming the file and what is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-bm25-files-'));
    const good = join(dir, 'good.bin');
    const idx = await sample();
    await idx.save(good);
    const orig = readFileSync(good);
    const L = layout(orig);
    const flow = L.terms.find((t) => t.text === 'flow')!;
    const flutter = L.terms.find((t) => t.text === 'flutter')!;
    expect(flow.np).toBeGreaterThan(128);
    const cases: [string, (b: Buffer) => Buffer | void, RegExp][] = [
      ['posting id 2^31-1', (b) => void b.writeUInt32LE(2 ** 31 - 1, flow.postingsAt + 8 * 5), /names document 2147483647 of 702/],
      ['posting id one past the last', (b) => void b.writeUInt32LE(L.n, flow.postingsAt + 8 * (flow.np - 1)), /names document 702 of 702/],
      ['a few bytes overwritten', (b) => void b.fill(0xff, flow.postingsAt + 8 * 40 + 2, flow.postingsAt + 8 * 40 + 5), /term \d+: posting 40 names document \d+ of 702/],
      ['postings out of order', (b) => {
        const p = flow.postingsAt;
        const first = Buffer.from(b.subarray(p, p + 8));
        b.copy(b, p, p + 8, p + 16);
        first.copy(b, p + 8);
      }, /not in increasing document order at 1/],
      ['frequency 0', (b) => void b.writeUInt32LE(0, flow.postingsAt + 4), /frequency 0 in document/],
      ['frequency above the document length', (b) => void b.writeUInt32LE(1000, flow.postingsAt + 4), /frequency 1000 in document \d+ whose length is at most/],
      ['document count 2^40', (b) => void b.writeBigUInt64LE(2n ** 40n, L.nAt), /document count 1099511627776 cannot be right/],
      ['term count 2^62', (b) => void b.writeBigUInt64LE(2n ** 62n, L.termCountAt), /term count 4611686018427387904 cannot be right/],
      ['posting count above the documents', (b) => void b.writeBigUInt64LE(BigInt(L.n + 1), flow.countAt), /posting count 703 cannot be right/],
      ['posting count past the end', (b) => void b.writeBigUInt64LE(BigInt(flow.np + 100000) & 0xffffn, flow.countAt), /posting count|postings not in increasing|names document|frequency/],
      ['block bound below a posting', (b) => {
        // flutter occurs 3 times in some documents: its first block's frontier must hold tf 3.
        b[flutter.boundsAt] = 1;
        b.writeUInt32LE(1, flutter.boundsAt + 1);
        return Buffer.concat([b.subarray(0, flutter.boundsAt + 6), b.subarray(flutter.boundsAt + 1 + 5 * orig[flutter.boundsAt]!)]);
      }, /block 0: bound below posting/],
      ['unknown format version', (b) => void (b[7] = 0x39), /format version '9' is not one this build reads/],
      ['not a BM25 file', (b) => void b.write('FAISSIDX', 0), /not a crossrank BM25 index/],
      ['k1 not a number', (b) => void b.writeFloatLE(NaN, 8), /parameters k1 nan/],
      ['b above 1', (b) => void b.writeFloatLE(1.5, 12), /b 1\.5/],
      ['trailing bytes', (b) => Buffer.concat([b, Buffer.from([0, 1, 2])]), /3 unexpected bytes after the last term/],
      ['empty file', () => Buffer.alloc(0), /shorter than its header/],
      ['truncated in the postings', (b) => b.subarray(0, L.terms.at(-1)!.postingsAt + 4), /posting count \d+ cannot be right \(4 bytes left\)/],
      ['truncated before the terms', (b) => b.subarray(0, flow.postingsAt + 20), /term count \d+ cannot be right \(\d+ bytes left\)/],
    ];
    for (const [name, damage, re] of cases) {
      const b = Buffer.from(orig);
      const out = damage(b) ?? b;
      const file = join(dir, 'bad.bin');
      writeFileSync(file, out);
      const e = await rejectionOf(Bm25Index.load(file));
      expect({ name, code: e.code }).toEqual({ name, code: 'ERR_CORRUPT_INDEX' });
      expect(e.message, name).toContain(file);
      expect(e.message, name).toMatch(re);
    }
    // The undamaged file still loads and searches as the index it was saved from.
    const back = await Bm25Index.load(good);
    expect(Array.from((await back.search('flow', 5)).docs)).toEqual(Array.from((await idx.search('flow', 5)).docs));
    expect((await rejectionOf(Bm25Index.load(join(dir, 'missing.bin')))).code).toBe('ERR_INDEX_IO');
  });

  it('a corpus of damaged files (every 1/64 truncation, 1 000 bit flips) only gives typed errors or correct searches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-bm25-corpus-'));
    const dist = JSON.stringify(join(import.meta.dirname, '../dist/index.js'));
    const script = `
      import { Bm25Index } from ${dist};
      import { readFileSync, writeFileSync } from 'node:fs';
      const dir = ${JSON.stringify(dir)};
      const idx = Bm25Index.create();
      const DOCS = ${JSON.stringify(DOCS)};
      for (let batch = 0; batch < 3; batch++) await idx.add(Array.from({ length: 233 + batch }, (_, i) => DOCS[(i * 3 + batch) % DOCS.length] + ' item' + (i % 50)));
      idx.remove([3, 10, 400]);
      await idx.save(dir + '/good.bin');
      const orig = readFileSync(dir + '/good.bin');
      const queries = ['flow', 'supersonic flow wings', 'flutter flutter', 'boundary layer heat item7', 'item1 item2 item3 laminar'];
      const out = { truncated: 0, flips: 0, typed: 0, loaded: 0, other: [], wrong: [] };
      let s = 20251202;
      const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
      async function attempt(buf, what) {
        const file = dir + '/bad.bin';
        writeFileSync(file, buf);
        let back;
        try {
          back = await Bm25Index.load(file);
        } catch (e) {
          if (e.code === 'ERR_CORRUPT_INDEX' && e.message.includes(file)) out.typed++;
          else out.other.push(what + ': ' + e.code + ' ' + e.message);
          return false;
        }
        out.loaded++;
        const p = await back.searchBatch(queries, 50);
        const x = await back.searchBatch(queries, 50, { exhaustive: true });
        for (let q = 0; q < queries.length; q++) {
          const same = p[q].docs.length === x[q].docs.length && p[q].docs.every((d, i) => d === x[q].docs[i] && p[q].scores[i] === x[q].scores[i]);
          const valid = Array.from(p[q].docs).every((d) => d < back.size) && Array.from(p[q].scores).every(Number.isFinite);
          if (!same || !valid) out.wrong.push(what + ' query ' + q);
        }
        return true;
      }
      for (let i = 0; i < 64; i++) {
        out.truncated++;
        if (await attempt(orig.subarray(0, Math.floor((orig.length * i) / 64)), 'truncated to ' + i + '/64')) out.wrong.push('truncated to ' + i + '/64 loaded');
      }
      for (let i = 0; i < 1000; i++) {
        const b = Buffer.from(orig);
        const bit = Math.floor(rand() * b.length * 8);
        b[bit >> 3] ^= 1 << (bit & 7);
        out.flips++;
        await attempt(b, 'bit ' + bit);
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.other).toEqual([]);
    expect(out.wrong).toEqual([]);
    expect(out.truncated).toBe(64);
    expect(out.flips).toBe(1000);
    expect(out.typed + out.loaded).toBe(64 + 1000);
    expect(out.typed).toBeGreaterThanOrEqual(64 + 500);  // most flips hit a checked field
  }, 150_000);
});

describe('Bm25Index.remove', () => {
  it('removes nothing for an unknown or invalid number and says so; returns how many it removed', async () => {
    const idx = Bm25Index.create();
    await idx.add(['alpha', 'beta', 'gamma']);
    const unknown = errorOf(() => idx.remove([1, 99]));
    expect(unknown.code).toBe('ERR_OUT_OF_RANGE');
    expect(unknown.message).toMatch(/no document 99 in this BM25 index of 3: nothing removed/);
    expect(idx.live).toBe(3);  // 1 was not removed either
    for (const bad of [[-1], ['x'], [1.5], [2 ** 32 - 1], [NaN]]) {
      const e = errorOf(() => idx.remove(bad as number[]));
      expect(['ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE']).toContain(e.code);
      expect(e.message).toMatch(/docs\[0\]/);
    }
    expect(errorOf(() => idx.remove('0' as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(idx.live).toBe(3);
    expect(Array.from((await idx.search('alpha', 3)).docs)).toEqual([0]);  // 'x' did not delete document 0
    expect(idx.remove([0, 0, 2])).toBe(2);
    expect(idx.remove([0])).toBe(0);
    expect(idx.live).toBe(1);
    expect((await idx.search('alpha', 3)).docs.length).toBe(0);
  });
});
