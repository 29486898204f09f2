/**
 * Durable file writes for a collection directory, and the BM25 id map file.
 *
 * A file becomes part of a checkpoint by rename; a rename is durable only once the directory
 * itself is fsynced, so every rename here is followed by an fsync of its directory.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { CrossrankError } from '../errors.js';

/** Make the renames and deletions done in `dir` so far survive a power loss (off the JS thread). */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/**
 * Write `path` so that a crash leaves the old content or the new, never a mix: temp, fsync, rename,
 * fsync dir (`syncDir: false` leaves that to a caller who renames several files).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { syncDir?: boolean } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = await open(tmp, 'w');
  try {
    await fd.writeFile(data);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, path);
  if (options.syncDir ?? true) await fsyncDir(dirname(path));
}

const MAGIC = Buffer.from('CRIDMAP1', 'latin1');
const HEADER = 16; // magic + u64 count
const DIGEST = 32; // SHA-256 of everything before it

/**
 * BM25 document number → SQLite rowid, saved beside each BM25 file of a checkpoint so a reader maps
 * the numbers of the file it loaded, whatever the writer has renumbered since (compaction).
 * Entries are in increasing rowid order (rowids only grow and documents are indexed in rowid
 * order); a removed document's entry is its rowid negated, so lookups by rowid stay a binary search.
 */
export class IdMap {
  #ids: Float64Array;
  #n: number;
  #live: number;

  constructor(ids: Float64Array = new Float64Array(1024), n = 0) {
    this.#ids = ids;
    this.#n = n;
    let live = 0;
    for (let i = 0; i < n; i++) if (ids[i]! > 0) live++;
    this.#live = live;
  }

  /** Entries, removed ones included (= the BM25 index's document count). */
  get length(): number {
    return this.#n;
  }
  /** Entries not removed. */
  get live(): number {
    return this.#live;
  }

  /** The rowid of BM25 document `num`, or -1 when it was removed or is out of range. */
  rowid(num: number): number {
    const v = num < this.#n ? this.#ids[num]! : -1;
    return v > 0 ? v : -1;
  }

  /** Live (rowid, number) pairs in order. */
  *entries(): Generator<[rowid: number, num: number]> {
    for (let i = 0; i < this.#n; i++) if (this.#ids[i]! > 0) yield [this.#ids[i]!, i];
  }

  /** Append rowids (each larger than every one before) for documents numbered from `first`. */
  push(rowids: readonly number[], first: number): void {
    if (first !== this.#n) {
      throw new CrossrankError('ERR_INTERNAL', `BM25 numbered the new documents from ${first}, the id map expected ${this.#n}`);
    }
    if (this.#n + rowids.length > this.#ids.length) {
      const grown = new Float64Array(Math.max(this.#ids.length * 2, this.#n + rowids.length));
      grown.set(this.#ids.subarray(0, this.#n));
      this.#ids = grown;
    }
    for (const r of rowids) {
      if (this.#n > 0 && !(r > Math.abs(this.#ids[this.#n - 1]!))) {
        throw new CrossrankError('ERR_INTERNAL', `rowid ${r} is not above the last indexed rowid ${Math.abs(this.#ids[this.#n - 1]!)}`);
      }
      this.#ids[this.#n++] = r;
      this.#live++;
    }
  }

  /** Mark the document with this rowid removed; returns its BM25 number, or -1 when it is not live here. */
  remove(rowid: number): number {
    let lo = 0;
    let hi = this.#n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = Math.abs(this.#ids[mid]!);
      if (v === rowid) {
        if (this.#ids[mid]! < 0) return -1;
        this.#ids[mid] = -rowid;
        this.#live--;
        return mid;
      }
      if (v < rowid) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Write to `path` atomically; the caller fsyncs the directory. */
  save(path: string): Promise<void> {
    const body = Buffer.alloc(HEADER + 8 * this.#n);
    MAGIC.copy(body, 0);
    body.writeBigUInt64LE(BigInt(this.#n), 8);
    for (let i = 0; i < this.#n; i++) body.writeBigInt64LE(BigInt(this.#ids[i]!), HEADER + 8 * i);
    return writeFileAtomic(path, Buffer.concat([body, createHash('sha256').update(body).digest()]), { syncDir: false });
  }

  /** Read a file written by save(); a damaged one is ERR_CORRUPT_INDEX naming it and the fault. */
  static load(path: string): IdMap {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new CrossrankError('ERR_INDEX_IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    const bad = (what: string) => new CrossrankError('ERR_CORRUPT_INDEX', `${path}: ${what}`);
    if (buf.length < HEADER + DIGEST || !buf.subarray(0, 8).equals(MAGIC)) throw bad(`not a crossrank id map (${basename(path)})`);
    const count = buf.readBigUInt64LE(8);
    if (BigInt(buf.length) !== BigInt(HEADER + DIGEST) + 8n * count) throw bad(`${buf.length} bytes cannot hold the ${count} entries its header announces`);
    const n = Number(count);
    const body = buf.subarray(0, HEADER + 8 * n);
    if (!createHash('sha256').update(body).digest().equals(buf.subarray(HEADER + 8 * n))) throw bad('checksum mismatch (the file was damaged)');
    const ids = new Float64Array(Math.max(n, 1024));
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const v = buf.readBigInt64LE(HEADER + 8 * i);
      const a = v < 0n ? -v : v;
      if (a === 0n || a > BigInt(Number.MAX_SAFE_INTEGER) || Number(a) <= prev) throw bad(`entry ${i} (${v}) is not a rowid above the one before (${prev})`);
      prev = Number(a);
      ids[i] = Number(v);
    }
    return new IdMap(ids, n);
  }
}
