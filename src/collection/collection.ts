/**
 * A collection on disk — the embedded default, no server. One directory holds:
 *   docs.sqlite            documents (id, text, metadata) and their place in the indexes (SQLite)
 *   vectors.<seq>.faiss    the FAISS index of their embeddings (FAISS ids = SQLite rowids)
 *   bm25.<seq>.bin         the BM25 index of their text
 *   collection.json        the manifest: options, and which index files hold checkpoint <seq>
 * Adding is batched and checkpointed: index files are written under new names, then the manifest
 * is replaced atomically. A dense index that needs training (IVF, PQ) is trained once `trainSize`
 * documents are in, on all of them; until then their vectors wait in SQLite (table `pending`) and
 * are searched exactly. After a crash, open() reloads the last checkpoint and re-indexes the rows
 * SQLite holds beyond it, so an interrupted add() can simply be run again: rows whose id and text
 * are unchanged are skipped, changed ones replace the old version (never duplicates).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { CrossrankError, invalidType, validateInteger, validateObject, validateOneOf, validateString } from '../errors.js';
import { BiEncoder, type BiEncoderOptions } from '../inference/bi-encoder.js';
import type { Scorer } from '../inference/scorer.js';
import { Bm25Index, type Bm25Options } from '../index/bm25.js';
import { FaissIndex, type Metric } from '../index/faiss-index.js';
import { reciprocalRankFusion } from '../index/fusion.js';
import { LatencyPlanner, type Plan } from '../pipeline/planner.js';

export interface CollectionDoc {
  id: string;
  text: string;
  /** Anything JSON-serialisable; returned with search results. */
  metadata?: Record<string, unknown>;
}

export interface CreateOptions {
  /** A bi-encoder for dense search: a loaded BiEncoder, or a model directory (+ options). */
  embedder?: BiEncoder | { model: string; options?: BiEncoderOptions };
  /** Build a BM25 index (true or its options). Default true. */
  bm25?: boolean | Bm25Options;
  /** FAISS index_factory string for the dense index. Default 'Flat'. */
  factory?: string;
  metric?: Metric;
  /**
   * For index kinds that must be trained (IVF, PQ): how many documents to gather before training
   * on all of them. Until then the gathered vectors are searched exactly. Default
   * max(64 × nlist, 10 000). `collection.train()` trains earlier, on what is there.
   */
  trainSize?: number;
}

export interface AddOptions {
  /** Called after each batch with documents processed so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Documents embedded and indexed per batch. Default 256. */
  batchSize?: number;
  /** Write a checkpoint every this many added documents. Default 10 000 (and always at the end). */
  checkpointEvery?: number;
}

export type FirstStage = 'dense' | 'bm25' | 'hybrid';

export interface SearchOptions {
  first?: FirstStage;
  /** First-stage candidates. Default 100. */
  candidates?: number;
  /** Rerank the candidates with this cross-encoder (or pool). */
  rerank?: Scorer;
  /** Results to return. Default 10. */
  topK?: number;
  /** With `rerank`: rerank only as many candidates as fit this budget (end to end), as measured. */
  latencyBudgetMs?: number;
  /** IVF nprobe / HNSW efSearch for the dense stage. */
  nprobe?: number;
  efSearch?: number;
  signal?: AbortSignal;
}

export interface SearchHit {
  id: string;
  text: string;
  metadata?: Record<string, unknown>;
  /** Final rank (1 = best) and score: the reranker's when reranked, else the first stage's. */
  rank: number;
  score: number;
  /** Rank (from 1) and score in the first stage; "moved up" is firstStageRank - rank. */
  firstStageRank: number;
  firstStageScore: number;
  /** Whether the reranker read this candidate (false beyond a latency plan's cut). */
  reranked: boolean;
}

export interface SearchResult {
  hits: SearchHit[];
  first: FirstStage;
  candidates: number;
  timings: { firstStageMs: number; rerankMs: number; totalMs: number };
  /** The latency planner's choice, when a budget was given. */
  plan?: Plan;
}

interface Manifest {
  format: 'crossrank-collection';
  version: 1;
  seq: number;
  files: { faiss: string | null; bm25: string | null };
  dense: {
    factory: string;
    metric: Metric;
    dim: number;
    embedder: { model: string; options: BiEncoderOptions } | null;
    trainSize?: number;
  } | null;
  bm25: Bm25Options | null;
}

const MANIFEST = 'collection.json';

function hashText(text: string, metadata: unknown): string {
  return createHash('sha256').update(text).update('\u0000').update(JSON.stringify(metadata ?? null)).digest('base64url');
}

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

function validateDocs(docs: unknown): asserts docs is CollectionDoc[] {
  if (!Array.isArray(docs)) throw invalidType('docs', 'an array of { id, text, metadata? } objects', docs);
  docs.forEach((d, i) => {
    if (d === null || typeof d !== 'object') throw invalidType(`docs[${i}]`, 'an object with string "id" and "text"', d);
    const o = d as Record<string, unknown>;
    if (typeof o.id !== 'string' || !o.id) throw invalidType(`docs[${i}].id`, 'a non-empty string', o.id);
    if (typeof o.text !== 'string') throw invalidType(`docs[${i}].text`, 'of type string', o.text);
    if (o.metadata !== undefined && (o.metadata === null || typeof o.metadata !== 'object')) {
      throw invalidType(`docs[${i}].metadata`, 'an object', o.metadata);
    }
  });
}

export class Collection {
  readonly dir: string;
  readonly #db: Database.Database;
  #manifest: Manifest;
  #faiss: FaissIndex | null;
  /** Exact index over the pending vectors while #faiss waits for training. */
  #staging: FaissIndex | null = null;
  #bm25: Bm25Index | null;
  readonly #embedder: BiEncoder | null;
  #seq: number;
  #sinceCheckpoint = 0;
  #stale = 0;  // removed vectors the dense index could not drop (HNSW)
  readonly #planners = new WeakMap<Scorer, LatencyPlanner>();

  private constructor(dir: string, db: Database.Database, manifest: Manifest, faiss: FaissIndex | null, bm25: Bm25Index | null, embedder: BiEncoder | null) {
    this.dir = dir;
    this.#db = db;
    this.#manifest = manifest;
    this.#faiss = faiss;
    this.#bm25 = bm25;
    this.#embedder = embedder;
    this.#seq = manifest.seq;
  }

  /** Create a new, empty collection in `dir` (which must not hold one already). */
  static async create(dir: string, options: CreateOptions = {}): Promise<Collection> {
    validateString(dir, 'dir');
    validateObject(options as unknown, 'options');
    const root = resolve(dir);
    if (existsSync(join(root, MANIFEST))) throw new CrossrankError('ERR_COLLECTION_EXISTS', `a collection already exists in ${root}`);
    const factory = options.factory ?? 'Flat';
    validateString(factory, 'options.factory');
    const metric = options.metric ?? 'ip';
    validateOneOf(metric, 'options.metric', ['ip', 'l2'] as const);
    let embedder: BiEncoder | null = null;
    let embedderSpec: { model: string; options: BiEncoderOptions } | null = null;
    if (options.embedder instanceof BiEncoder) {
      embedder = options.embedder;
      embedderSpec = { model: embedder.modelDir, options: { pooling: embedder.pooling, normalize: embedder.normalize, maxLength: embedder.maxLength } };
    } else if (options.embedder !== undefined) {
      validateObject(options.embedder, 'options.embedder');
      validateString(options.embedder.model, 'options.embedder.model');
      const given = options.embedder.model;
      const loadOptions = options.embedder.options ?? {};
      embedder = await BiEncoder.load(existsSync(given) ? resolve(given) : given, loadOptions);
      // Reopening must embed with the same weights: record the directory it loaded from (for a hub
      // id, its snapshot of one commit), and none of the download settings (a token stays out of
      // the manifest).
      const { revision: _r, cacheDir: _c, localFilesOnly: _l, token: _t, hubUrl: _h, onDownload: _d, ...modelOptions } = loadOptions;
      embedderSpec = { model: embedder.modelDir, options: modelOptions };
    }
    const bm25Opts = options.bm25 === false ? null : options.bm25 === true || options.bm25 === undefined ? {} : options.bm25;
    if (!embedder && !bm25Opts) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'a collection needs an embedder, a BM25 index, or both');
    let faiss: FaissIndex | null = null;
    let trainSize: number | undefined;
    if (embedder) {
      if (!embedder.dim) await embedder.embed(['dimension probe']);
      faiss = FaissIndex.create(embedder.dim, factory, { metric });
      if (!faiss.isTrained) {
        trainSize = options.trainSize ?? Math.max(64 * faiss.nlist, 10_000);
        validateInteger(trainSize, 'options.trainSize', Math.max(1, faiss.nlist));
      }
    }
    const bm25 = bm25Opts ? Bm25Index.create(bm25Opts) : null;
    mkdirSync(root, { recursive: true });
    const manifest: Manifest = {
      format: 'crossrank-collection',
      version: 1,
      seq: 0,
      files: { faiss: null, bm25: null },
      dense: embedder ? { factory, metric, dim: embedder.dim, embedder: embedderSpec, ...(trainSize ? { trainSize } : {}) } : null,
      bm25: bm25Opts,
    };
    const db = Collection.#openDb(root);
    const c = new Collection(root, db, manifest, faiss, bm25, embedder);
    await c.#checkpoint();
    return c;
  }

  /** Open an existing collection; recovers rows added after the last checkpoint. */
  static async open(dir: string, options: { embedder?: BiEncoder } = {}): Promise<Collection> {
    validateString(dir, 'dir');
    const root = resolve(dir);
    const mpath = join(root, MANIFEST);
    if (!existsSync(mpath)) throw new CrossrankError('ERR_COLLECTION_NOT_FOUND', `no collection in ${root} (missing ${MANIFEST})`);
    const manifest = JSON.parse(readFileSync(mpath, 'utf8')) as Manifest;
    if (manifest.format !== 'crossrank-collection' || manifest.version !== 1) {
      throw new CrossrankError('ERR_COLLECTION_FORMAT', `${mpath} is not a crossrank collection manifest of version 1`);
    }
    let embedder = options.embedder ?? null;
    if (!embedder && manifest.dense?.embedder) embedder = await BiEncoder.load(manifest.dense.embedder.model, manifest.dense.embedder.options);
    if (manifest.dense && !embedder) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'this collection has a dense index: pass options.embedder');
    const faiss = manifest.dense
      ? manifest.files.faiss
        ? await FaissIndex.load(join(root, manifest.files.faiss))
        : FaissIndex.create(manifest.dense.dim, manifest.dense.factory, { metric: manifest.dense.metric })
      : null;
    const bm25 = manifest.bm25 ? (manifest.files.bm25 ? await Bm25Index.load(join(root, manifest.files.bm25)) : Bm25Index.create(manifest.bm25)) : null;
    const c = new Collection(root, Collection.#openDb(root), manifest, faiss, bm25, embedder);
    await c.#loadPending();
    await c.#recover();
    return c;
  }

  static #openDb(root: string): Database.Database {
    const db = new Database(join(root, 'docs.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS docs (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        text TEXT NOT NULL,
        metadata TEXT,
        hash TEXT NOT NULL,
        bm25 INTEGER,
        seq INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS docs_bm25 ON docs(bm25);
      CREATE INDEX IF NOT EXISTS docs_seq ON docs(seq);
      CREATE TABLE IF NOT EXISTS removed (rowid INTEGER PRIMARY KEY, bm25 INTEGER, seq INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS pending (rowid INTEGER PRIMARY KEY, vec BLOB NOT NULL);
    `);
    return db;
  }

  /** Documents in the collection. */
  get size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM docs').get() as { n: number }).n;
  }

  /** Look a document up by id. */
  get(id: string): CollectionDoc | undefined {
    const r = this.#db.prepare('SELECT id, text, metadata FROM docs WHERE id = ?').get(id) as { id: string; text: string; metadata: string | null } | undefined;
    return r && { id: r.id, text: r.text, ...(r.metadata ? { metadata: JSON.parse(r.metadata) as Record<string, unknown> } : {}) };
  }

  /**
   * Add documents (batched). A document whose id exists with the same text and metadata is skipped;
   * with different ones it replaces the old version. Returns how many were added or replaced.
   */
  async add(docs: readonly CollectionDoc[], options: AddOptions = {}): Promise<{ added: number; replaced: number; skipped: number }> {
    validateDocs(docs);
    validateObject(options as unknown, 'options');
    const batchSize = options.batchSize ?? 256;
    validateInteger(batchSize, 'options.batchSize', 1);
    const checkpointEvery = options.checkpointEvery ?? 10_000;
    validateInteger(checkpointEvery, 'options.checkpointEvery', 1);
    const seen = new Set<string>();
    docs.forEach((d, i) => {
      if (seen.has(d.id)) throw new CrossrankError('ERR_DUPLICATE_ID', `docs[${i}].id "${d.id}" appears more than once in this call`);
      seen.add(d.id);
    });
    const find = this.#db.prepare('SELECT rowid, hash, bm25 FROM docs WHERE id = ?');
    let added = 0;
    let replaced = 0;
    let skipped = 0;
    for (let a = 0; a < docs.length; a += batchSize) {
      const batch = docs.slice(a, a + batchSize);
      const todo: { doc: CollectionDoc; hash: string; old?: { rowid: number; bm25: number | null } }[] = [];
      for (const doc of batch) {
        const hash = hashText(doc.text, doc.metadata);
        const prev = find.get(doc.id) as { rowid: number; hash: string; bm25: number | null } | undefined;
        if (prev?.hash === hash) skipped++;
        else todo.push({ doc, hash, ...(prev ? { old: { rowid: prev.rowid, bm25: prev.bm25 } } : {}) });
      }
      if (todo.length) {
        await this.#indexBatch(todo);
        added += todo.filter((t) => !t.old).length;
        replaced += todo.filter((t) => t.old).length;
        this.#sinceCheckpoint += todo.length;
      }
      if (this.#sinceCheckpoint >= checkpointEvery) await this.#checkpoint();
      options.onProgress?.(Math.min(a + batchSize, docs.length), docs.length);
    }
    if (this.#sinceCheckpoint > 0) await this.#checkpoint();
    return { added, replaced, skipped };
  }

  /** Remove documents by id; returns how many existed. */
  async remove(ids: readonly string[]): Promise<number> {
    if (!Array.isArray(ids)) throw invalidType('ids', 'an array of strings', ids);
    const seq = this.#seq + 1;
    const rows = ids.map((id) => this.#db.prepare('SELECT rowid, bm25 FROM docs WHERE id = ?').get(id) as { rowid: number; bm25: number | null } | undefined).filter((r) => r !== undefined);
    this.#db.transaction(() => {
      for (const r of rows) {
        this.#db.prepare('DELETE FROM docs WHERE rowid = ?').run(r.rowid);
        this.#db.prepare('INSERT OR REPLACE INTO removed (rowid, bm25, seq) VALUES (?, ?, ?)').run(r.rowid, r.bm25, seq);
      }
    })();
    this.#dropFromIndexes(rows);
    if (rows.length) {
      this.#sinceCheckpoint += rows.length;
      await this.#checkpoint();
    }
    return rows.length;
  }

  /** Remove old versions from the in-memory indexes (search also filters by SQLite). */
  #dropFromIndexes(rows: { rowid: number; bm25: number | null }[]): void {
    if (!rows.length) return;
    const bm = rows.map((r) => r.bm25).filter((b): b is number => b !== null);
    if (this.#bm25 && bm.length) this.#bm25.remove(bm);
    if (this.#staging) {
      this.#staging.remove(rows.map((r) => r.rowid));
      const del = this.#db.prepare('DELETE FROM pending WHERE rowid = ?');
      this.#db.transaction(() => rows.forEach((r) => del.run(r.rowid)))();
    }
    if (this.#faiss?.isTrained) {
      try {
        this.#faiss.remove(rows.map((r) => r.rowid));
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_INDEX_UNSUPPORTED') throw e;
        this.#stale += rows.length;  // HNSW keeps them: search filters them out and fetches more
      }
    }
  }

  async #indexBatch(todo: { doc: CollectionDoc; hash: string; old?: { rowid: number; bm25: number | null } }[]): Promise<void> {
    const seq = this.#seq + 1;
    const texts = todo.map((t) => t.doc.text);
    const vectors = this.#embedder ? await this.#embedder.embed(texts) : null;
    // SQLite first (the source of truth), then the in-memory indexes.
    const rowids: number[] = [];
    const del = this.#db.prepare('DELETE FROM docs WHERE rowid = ?');
    const rem = this.#db.prepare('INSERT OR REPLACE INTO removed (rowid, bm25, seq) VALUES (?, ?, ?)');
    const ins = this.#db.prepare('INSERT INTO docs (id, text, metadata, hash, bm25, seq) VALUES (?, ?, ?, ?, NULL, ?)');
    this.#db.transaction(() => {
      for (const t of todo) {
        if (t.old) {
          del.run(t.old.rowid);
          rem.run(t.old.rowid, t.old.bm25, seq);
        }
        const info = ins.run(t.doc.id, t.doc.text, t.doc.metadata ? JSON.stringify(t.doc.metadata) : null, t.hash, seq);
        rowids.push(Number(info.lastInsertRowid));
      }
    })();
    this.#dropFromIndexes(todo.flatMap((t) => (t.old ? [t.old] : [])));
    await this.#addToIndexes(rowids, texts, vectors);
  }

  async #addToIndexes(rowids: number[], texts: string[], vectors: Float32Array | null): Promise<void> {
    if (this.#bm25) {
      const first = await this.#bm25.add(texts);
      const set = this.#db.prepare('UPDATE docs SET bm25 = ? WHERE rowid = ?');
      this.#db.transaction(() => rowids.forEach((r, i) => set.run(first + i, r)))();
    }
    // Dense last: staging may train and checkpoint, which must find this batch in BM25 already.
    if (this.#faiss && vectors) {
      if (this.#faiss.isTrained) await this.#faiss.add(vectors, rowids);
      else await this.#stage(rowids, vectors);
    }
  }

  /** Keep vectors for an index that is not trained yet; train once enough are in. */
  async #stage(rowids: number[], vectors: Float32Array): Promise<void> {
    const dim = this.#faiss!.dim;
    const put = this.#db.prepare('INSERT OR REPLACE INTO pending (rowid, vec) VALUES (?, ?)');
    this.#db.transaction(() =>
      rowids.forEach((r, i) => put.run(r, Buffer.from(vectors.buffer, vectors.byteOffset + i * dim * 4, dim * 4))),
    )();
    this.#staging ??= FaissIndex.create(dim, 'Flat', { metric: this.#faiss!.metric });
    await this.#staging.add(vectors, rowids);
    if (this.pendingVectors >= (this.#manifest.dense?.trainSize ?? Infinity)) await this.train();
  }

  /** Vectors waiting for the dense index to be trained (0 once it is). */
  get pendingVectors(): number {
    return this.#staging?.ntotal ?? 0;
  }

  /**
   * Train the dense index (IVF, PQ) now on the vectors gathered so far and move them into it. Runs
   * by itself once `trainSize` documents are in; call it to train a smaller collection. A no-op
   * for an index that is trained already (Flat, HNSW, or trained before).
   */
  async train(): Promise<{ trained: boolean; vectors: number }> {
    const faiss = this.#faiss;
    if (!faiss || faiss.isTrained) return { trained: false, vectors: 0 };
    const { ids, vectors: all } = this.#readPending(Number.MAX_SAFE_INTEGER);
    const need = Math.max(1, faiss.nlist);
    if (ids.length < need) {
      throw new CrossrankError(
        'ERR_TRAINING_DATA',
        `the dense index (${this.#manifest.dense!.factory}) needs at least ${need} vectors to train, the collection has ${ids.length}`,
      );
    }
    await faiss.train(all);
    await faiss.add(all, ids);
    this.#staging = null;
    // The trained index is on disk (checkpoint) before the vectors it holds leave `pending`.
    await this.#checkpoint();
    this.#db.prepare('DELETE FROM pending').run();
    return { trained: true, vectors: ids.length };
  }

  /** After open: the pending vectors of checkpointed rows back into the exact staging index. */
  async #loadPending(): Promise<void> {
    const faiss = this.#faiss;
    if (!faiss) return;
    if (faiss.isTrained) {
      this.#db.prepare('DELETE FROM pending').run();  // left by a crash after training's checkpoint
      return;
    }
    const { ids, vectors } = this.#readPending(this.#seq);
    if (!ids.length) return;
    this.#staging = FaissIndex.create(faiss.dim, 'Flat', { metric: faiss.metric });
    await this.#staging.add(vectors, ids);
  }

  /** Pending vectors of live documents added up to checkpoint `maxSeq`, in rowid order. */
  #readPending(maxSeq: number): { ids: number[]; vectors: Float32Array } {
    const rows = this.#db
      .prepare('SELECT p.rowid AS rowid, p.vec AS vec FROM pending p JOIN docs d ON d.rowid = p.rowid WHERE d.seq <= ? ORDER BY p.rowid')
      .all(maxSeq) as { rowid: number; vec: Buffer }[];
    const dim = this.#faiss!.dim;
    const vectors = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => vectors.set(new Float32Array(r.vec.buffer, r.vec.byteOffset, dim), i * dim));
    return { ids: rows.map((r) => r.rowid), vectors };
  }

  /** Write index files for the current state under new names, then switch the manifest to them. */
  async #checkpoint(): Promise<void> {
    const seq = this.#seq + 1;
    // An untrained index holds nothing yet: its vectors are in `pending` until training.
    const files = { faiss: this.#faiss?.isTrained ? `vectors.${seq}.faiss` : null, bm25: this.#bm25 ? `bm25.${seq}.bin` : null };
    if (this.#faiss && files.faiss) await this.#faiss.save(join(this.dir, files.faiss));
    if (this.#bm25 && files.bm25) await this.#bm25.save(join(this.dir, files.bm25));
    const old = this.#manifest.files;
    this.#manifest = { ...this.#manifest, seq, files };
    writeAtomic(join(this.dir, MANIFEST), JSON.stringify(this.#manifest, null, 2));
    this.#seq = seq;
    this.#sinceCheckpoint = 0;
    this.#db.prepare('DELETE FROM removed WHERE seq <= ?').run(seq);
    for (const f of [old.faiss, old.bm25]) if (f && f !== files.faiss && f !== files.bm25) rmSync(join(this.dir, f), { force: true });
    // Leftovers of interrupted checkpoints.
    for (const f of readdirSync(this.dir)) {
      if (/^(vectors|bm25)\.\d+\.(faiss|bin)(\.tmp-\d+)?$/.test(f) && f !== files.faiss && f !== files.bm25) rmSync(join(this.dir, f), { force: true });
    }
  }

  /** Bring the indexes loaded from the last checkpoint up to what SQLite holds. */
  async #recover(): Promise<void> {
    const pendingRemovals = this.#db.prepare('SELECT rowid, bm25 FROM removed WHERE seq > ?').all(this.#seq) as { rowid: number; bm25: number | null }[];
    this.#dropFromIndexes(pendingRemovals);
    const rows = this.#db.prepare('SELECT rowid, text FROM docs WHERE seq > ? ORDER BY rowid').all(this.#seq) as { rowid: number; text: string }[];
    for (let a = 0; a < rows.length; a += 256) {
      const part = rows.slice(a, a + 256);
      const texts = part.map((r) => r.text);
      const vectors = this.#embedder ? await this.#embedder.embed(texts) : null;
      await this.#addToIndexes(part.map((r) => r.rowid), texts, vectors);
    }
    if (rows.length || pendingRemovals.length) {
      this.#db.prepare('UPDATE docs SET seq = ? WHERE seq > ?').run(this.#seq + 1, this.#seq);
      await this.#checkpoint();
    }
  }

  /**
   * Two-stage search: first stage (dense, BM25 or their reciprocal-rank fusion) returns
   * `candidates`; with `rerank`, a cross-encoder re-scores them. Each hit carries its first-stage
   * rank and score so movement is one subtraction.
   */
  async search(query: string, options: SearchOptions = {}): Promise<SearchResult> {
    validateString(query, 'query');
    validateObject(options as unknown, 'options');
    const t0 = performance.now();
    const first = options.first ?? (this.#faiss && this.#bm25 ? 'hybrid' : this.#faiss ? 'dense' : 'bm25');
    validateOneOf(first, 'options.first', ['dense', 'bm25', 'hybrid'] as const);
    if ((first === 'dense' || first === 'hybrid') && !this.#faiss) throw new CrossrankError('ERR_NO_DENSE_INDEX', 'this collection has no dense index');
    if ((first === 'bm25' || first === 'hybrid') && !this.#bm25) throw new CrossrankError('ERR_NO_BM25_INDEX', 'this collection has no BM25 index');
    const candidates = options.candidates ?? 100;
    validateInteger(candidates, 'options.candidates', 1, 100_000);
    const topK = options.topK ?? 10;
    validateInteger(topK, 'options.topK', 1, 100_000);
    if (options.latencyBudgetMs !== undefined && !(typeof options.latencyBudgetMs === 'number' && options.latencyBudgetMs > 0)) {
      throw invalidType('options.latencyBudgetMs', 'a positive number', options.latencyBudgetMs);
    }
    // Fetch a little more than asked: replaced or removed documents may still sit in an index.
    const fetch = candidates + Math.min(1000, this.#stale);
    const lists: { rowid: number; score: number }[][] = [];
    if (first !== 'bm25') {
      const q = await this.#embedder!.embed([query], options.signal ? { signal: options.signal } : {});
      const params: { nprobe?: number; efSearch?: number } = {};
      if (options.nprobe !== undefined) params.nprobe = options.nprobe;
      if (options.efSearch !== undefined) params.efSearch = options.efSearch;
      const dense = this.#faiss!.isTrained ? this.#faiss! : this.#staging;
      const r = dense ? await dense.search(q, fetch, dense === this.#faiss ? params : {}) : { ids: new BigInt64Array(0), scores: new Float32Array(0) };
      lists.push(Array.from(r.ids).flatMap((id, i) => (id >= 0n ? [{ rowid: Number(id), score: r.scores[i]! }] : [])));
    }
    if (first !== 'dense') {
      const r = await this.#bm25!.search(query, fetch);
      const byBm25 = this.#db.prepare('SELECT rowid FROM docs WHERE bm25 = ?');
      lists.push(
        Array.from(r.docs).flatMap((d, i) => {
          const row = byBm25.get(d) as { rowid: number } | undefined;
          return row ? [{ rowid: row.rowid, score: r.scores[i]! }] : [];
        }),
      );
    }
    let ranked: { rowid: number; score: number }[];
    if (first === 'hybrid') {
      ranked = reciprocalRankFusion(lists.map((l) => l.map((h) => h.rowid))).map((h) => ({ rowid: h.id, score: h.score }));
    } else {
      ranked = lists[0]!;
    }
    const getRow = this.#db.prepare('SELECT id, text, metadata FROM docs WHERE rowid = ?');
    const cands: { id: string; text: string; metadata?: Record<string, unknown>; score: number }[] = [];
    for (const h of ranked) {
      if (cands.length >= candidates) break;
      const row = getRow.get(h.rowid) as { id: string; text: string; metadata: string | null } | undefined;
      if (row) cands.push({ id: row.id, text: row.text, score: h.score, ...(row.metadata ? { metadata: JSON.parse(row.metadata) as Record<string, unknown> } : {}) });
    }
    const t1 = performance.now();
    let plan: Plan | undefined;
    let hits: SearchHit[];
    let rerankMs = 0;
    const base = (c: (typeof cands)[number], i: number): SearchHit => ({
      id: c.id,
      text: c.text,
      ...(c.metadata ? { metadata: c.metadata } : {}),
      rank: i + 1,
      score: c.score,
      firstStageRank: i + 1,
      firstStageScore: c.score,
      reranked: false,
    });
    if (options.rerank && cands.length) {
      const ce = options.rerank;
      const tokens = cands.map((c) => Math.min(ce.maxLength, Math.ceil((query.length + c.text.length) / 4) + 3));
      let n = cands.length;
      const planner = this.#planner(ce);
      if (options.latencyBudgetMs !== undefined) {
        if (planner.samples === 0) {
          // Calibrate on a few candidates so the first plan rests on a measurement, not a guess.
          const k = Math.min(4, cands.length);
          const c0 = performance.now();
          await ce.score(query, cands.slice(0, k).map((c) => c.text), options.signal ? { signal: options.signal } : {});
          planner.observe(tokens.slice(0, k).reduce((a, b) => a + b, 0), performance.now() - c0);
        }
        plan = planner.plan(tokens, options.latencyBudgetMs, performance.now() - t0);
        n = plan.rerank;
      }
      const r0 = performance.now();
      const scores = await ce.score(query, cands.slice(0, n).map((c) => c.text), options.signal ? { signal: options.signal } : {});
      rerankMs = performance.now() - r0;
      planner.observe(tokens.slice(0, n).reduce((a, b) => a + b, 0), rerankMs);
      const head = cands.slice(0, n).map((c, i) => ({ ...base(c, i), score: scores[i]!, reranked: true }));
      head.sort((a, b) => b.score - a.score || a.firstStageRank - b.firstStageRank);
      // Candidates beyond the plan keep their first-stage order after the reranked ones.
      hits = [...head, ...cands.slice(n).map((c, i) => base(c, n + i))].map((h, i) => ({ ...h, rank: i + 1 }));
    } else {
      hits = cands.map(base);
    }
    const total = performance.now() - t0;
    return {
      hits: hits.slice(0, topK),
      first,
      candidates: cands.length,
      timings: { firstStageMs: t1 - t0, rerankMs, totalMs: total },
      ...(plan ? { plan } : {}),
    };
  }

  #planner(s: Scorer): LatencyPlanner {
    let p = this.#planners.get(s);
    if (!p) {
      p = new LatencyPlanner();
      this.#planners.set(s, p);
    }
    return p;
  }


  /** Checkpoint pending work and close the database. */
  async close(): Promise<void> {
    if (this.#sinceCheckpoint > 0) await this.#checkpoint();
    this.#db.close();
  }
}
