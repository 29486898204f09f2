/**
 * A collection on disk — the embedded default, no server. One directory holds:
 *   docs.sqlite            documents (id, text, metadata): the source of truth (see db.ts)
 *   vectors.<seq>.faiss    the FAISS index of their embeddings (FAISS ids = SQLite rowids)
 *   bm25.<seq>.bin         the BM25 index of their text, and bm25.<seq>.ids its numbers' rowids
 *   collection.json        the manifest: options, and which files hold checkpoint <seq>
 *   write.lock             the writer's lock (see lock.ts)
 *
 * One writer, many readers, across processes. The writer holds the write lock; it adds in batches
 * and checkpoints: index files are written under new names, then the manifest is replaced
 * atomically (each rename followed by an fsync of the directory), and the files of the checkpoint
 * before are kept until the next one, so a reader that has just read the manifest still finds
 * them. Rowids are never reused (AUTOINCREMENT), so an index entry can only ever name the document
 * it was made from or one that is gone. A dense index that needs training (IVF, PQ) is trained
 * once `trainSize` documents are in; until then their vectors wait in SQLite (`pending`) and are
 * searched exactly. After a crash, the writer's open reloads the last checkpoint and re-indexes
 * what SQLite holds beyond it; an interrupted add() can simply be run again.
 *
 * A read-only open writes nothing: it loads the last checkpoint, looks hits up in SQLite (a
 * document removed or replaced since is left out, never shown with old text) and picks up newer
 * checkpoints with refresh() or by itself.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { CrossrankError, invalidType, validateBoolean, validateInteger, validateKeys, validateNonEmpty, validateObject, validateOneOf, validateString } from '../errors.js';
import { BiEncoder, type BiEncoderOptions } from '../inference/bi-encoder.js';
import type { Scorer } from '../inference/scorer.js';
import type { Reranker } from '../rerankers/types.js';
import { looksLikeHubId } from '../hub/hub.js';
import { Bm25Index, type Bm25Options } from '../index/bm25.js';
import { FaissIndex, type Metric, type SearchParams } from '../index/faiss-index.js';
import { Pipeline } from '../pipeline/pipeline.js';
import type { Plan } from '../pipeline/planner.js';
import { CollectionRetriever } from '../retrievers/collection.js';
import { DB_FILE, guarded, openReader, openWriter, syncForCheckpoint } from './db.js';
import { faultPoint } from './fault.js';
import { fsyncDir, IdMap, writeFileAtomic } from './files.js';
import { currentHolder, WriteLock, type LockHolder } from './lock.js';
import { FORMAT, MANIFEST, readManifest, type CheckpointFiles, type EmbedderSpec, type Manifest, type ManifestV1, type ModelOptions } from './manifest.js';

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
   * on all of them (thinned evenly to FAISS's own k-means sample, max(256 × nlist, 65 536)). Until
   * then the gathered vectors are searched exactly. Default
   * max(64 × nlist, 10 000). `collection.train()` trains earlier, on what is there.
   */
  trainSize?: number;
  /** Wait up to this long for another writer to close the collection. Default 0: fail at once. */
  lockTimeoutMs?: number;
}

export interface OpenOptions {
  /** The bi-encoder to embed with (default: the model recorded when the collection was created). */
  embedder?: BiEncoder;
  /**
   * Open for searching only: no write lock, nothing written, no recovery; sees the last
   * checkpoint. Any number of read-only handles may be open while one writer works.
   */
  readOnly?: boolean;
  /** Writers: wait up to this long for another writer to close the collection. Default 0: fail at once. */
  lockTimeoutMs?: number;
  /**
   * Read-only handles: at most this often (ms), a search looks whether a newer checkpoint exists
   * and then loads it in the background (searches meanwhile use the one loaded). Default 1000;
   * 0 turns it off (call refresh()).
   */
  refreshIntervalMs?: number;
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
  /** Rerank the candidates with this cross-encoder (or pool, or any Reranker: an LlmReranker). */
  rerank?: Scorer | Reranker;
  /** Results to return. Default 10. */
  topK?: number;
  /** With `rerank`: rerank only as many candidates as fit this budget (end to end), as measured. */
  latencyBudgetMs?: number;
  /** IVF nprobe / HNSW efSearch for the dense stage. */
  nprobe?: number;
  efSearch?: number;
  signal?: AbortSignal;
}

const SEARCH_OPTION_KEYS = ['first', 'candidates', 'rerank', 'topK', 'latencyBudgetMs', 'nprobe', 'efSearch', 'signal'] as const;

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

/** One checkpoint's indexes, as the collection retriever reads them (see Collection.snapshot). */
export interface CollectionSnapshot {
  readonly dense: boolean;
  readonly bm25: boolean;
  /** The `want` best live documents by the query's embedding (SQLite rowids, index scores). */
  denseHits(query: string, want: number, params: SearchParams, signal?: AbortSignal): Promise<{ rowid: number; score: number }[]>;
  /** The `want` best live documents by BM25. */
  bm25Hits(query: string, want: number): Promise<{ rowid: number; score: number }[]>;
  /** The document of a rowid, or null when it is gone (removed or replaced). */
  doc(rowid: number): CollectionDoc | null;
}

export interface VerifyOptions {
  /** Documents whose vectors are re-embedded and compared with the index. Default 32. */
  sample?: number;
  /** When something is wrong, rebuild every index from SQLite (writers only), then check again. */
  repair?: boolean;
}

export interface VerifyProblem {
  part: 'sqlite' | 'bm25' | 'dense' | 'pending';
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  /** The checkpoint checked. */
  seq: number;
  /** Documents that checkpoint covers. */
  documents: number;
  problems: VerifyProblem[];
  checked: {
    bm25?: { entries: number; live: number };
    /** enumerated: every id of the index was listed and matched against SQLite (Flat, IVF). */
    dense?: { vectors: number; stale: number; enumerated: boolean; sampled: number };
    pending?: { vectors: number; sampled: number };
  };
  /** With `repair`: the problems found before the indexes were rebuilt (`problems` is after). */
  repaired?: VerifyProblem[];
}

/** The indexes of one checkpoint, as loaded (readers swap whole views; the writer updates its own). */
interface View {
  manifest: Manifest;
  /** The dense index; an untrained one holds nothing yet (its vectors are in `staging`). */
  faiss: FaissIndex | null;
  trained: boolean;
  /** Vectors in `faiss`, stale ones included (kept here: the native getters wait behind a running add). */
  denseCount: number;
  /** Exact index over the pending vectors while `faiss` waits for training. */
  staging: FaissIndex | null;
  stagingCount: number;
  bm25: Bm25Index | null;
  bm25Ids: IdMap | null;
  /** Vectors in `faiss` whose documents are gone (an index that cannot remove, e.g. HNSW). */
  stale: number;
}

interface Row {
  id: string;
  text: string;
  metadata: string | null;
}

const CHUNK = 1024;
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

function hashText(text: string, metadata: unknown): string {
  return createHash('sha256').update(text).update('\u0000').update(JSON.stringify(metadata ?? null)).digest('base64url');
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

/** The hub id and commit of a model loaded from a Hugging Face cache snapshot, if it was. */
function hubOf(dir: string, given?: string): { id: string; revision: string } | undefined {
  const m = /(?:^|\/)models--([^/]+)\/snapshots\/([0-9a-f]{40})\/?$/.exec(dir);
  if (!m) return undefined;
  const id = given && looksLikeHubId(given) && !existsSync(given) ? given : m[1]!.split('--').join('/');
  return { id, revision: m[2]! };
}

function embedderSpec(root: string, modelDir: string, options: ModelOptions, given?: string): EmbedderSpec {
  const hub = hubOf(modelDir, given);
  return { path: resolve(modelDir), relativePath: relative(root, resolve(modelDir)) || '.', ...(hub ? { hub } : {}), options };
}

/**
 * The model a collection was built with: its recorded directory, else the same directory relative
 * to the collection's (both moved together), else its hub snapshot by id and commit (cache first).
 */
async function loadEmbedder(root: string, spec: EmbedderSpec): Promise<BiEncoder> {
  const tried: string[] = [];
  for (const dir of [spec.path, resolve(root, spec.relativePath)]) {
    if (existsSync(dir)) return BiEncoder.load(dir, spec.options);
    tried.push(dir);
  }
  if (spec.hub) {
    const opts = { ...spec.options, revision: spec.hub.revision };
    try {
      return await BiEncoder.load(spec.hub.id, { ...opts, localFilesOnly: true });
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_MODEL_NOT_CACHED') throw e;
      return BiEncoder.load(spec.hub.id, opts);
    }
  }
  throw new CrossrankError(
    'ERR_MODEL_NOT_FOUND',
    `the model the collection in ${root} was built with is neither at ${tried.join(' nor at ')}; pass options.embedder (a BiEncoder of the same model)`,
  );
}

function readOnlyError(what: string): CrossrankError {
  return new CrossrankError('ERR_COLLECTION_READ_ONLY', `${what}: this collection was opened with { readOnly: true }`);
}

/** Whether vectors come back from the index as they went in (so a re-embedded one must match). */
function storesExactVectors(factory: string): boolean {
  const parts = factory.split(',');
  const last = parts.pop()!;
  return /^(Flat|HNSW\d+(_Flat)?)$/.test(last) && parts.every((p) => /^(IDMap2?|IVF\d+(_HNSW\d+)?|HNSW\d+)$/.test(p));
}

export class Collection {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly #db: Database.Database;
  readonly #embedder: BiEncoder | null;
  #view: View;
  // Writer only.
  readonly #lock: WriteLock | null;
  #sinceCheckpoint = 0;
  #canRemove = true;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | null = null;
  // Readers only.
  readonly #refreshIntervalMs: number;
  #lastCheck = 0;
  #manifestStamp = '';
  #refreshing: Promise<boolean> | null = null;
  #refreshError: unknown = null;

  private constructor(dir: string, db: Database.Database, view: View, embedder: BiEncoder | null, lock: WriteLock | null, refreshIntervalMs: number) {
    this.dir = dir;
    this.#db = db;
    this.#view = view;
    this.#embedder = embedder;
    this.#lock = lock;
    this.readOnly = lock === null;
    this.#refreshIntervalMs = refreshIntervalMs;
  }

  /** Create a new, empty collection in `dir` (which must not hold one already). */
  static async create(dir: string, options: CreateOptions = {}): Promise<Collection> {
    validateString(dir, 'dir');
    validateObject(options as unknown, 'options');
    const root = resolve(dir);
    const factory = options.factory ?? 'Flat';
    validateString(factory, 'options.factory');
    const metric = options.metric ?? 'ip';
    validateOneOf(metric, 'options.metric', ['ip', 'l2'] as const);
    const lockTimeoutMs = options.lockTimeoutMs ?? 0;
    validateInteger(lockTimeoutMs, 'options.lockTimeoutMs', 0);
    const bm25Opts = options.bm25 === false ? null : options.bm25 === true || options.bm25 === undefined ? {} : options.bm25;
    if (!options.embedder && !bm25Opts) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'a collection needs an embedder, a BM25 index, or both');
    if (existsSync(join(root, MANIFEST))) throw new CrossrankError('ERR_COLLECTION_EXISTS', `a collection already exists in ${root}`);
    let embedder: BiEncoder | null = null;
    let spec: EmbedderSpec | null = null;
    if (options.embedder instanceof BiEncoder) {
      embedder = options.embedder;
      spec = embedderSpec(root, embedder.modelDir, { pooling: embedder.pooling, normalize: embedder.normalize, maxLength: embedder.maxLength });
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
      spec = embedderSpec(root, embedder.modelDir, modelOptions, given);
    }
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
    mkdirSync(root, { recursive: true });
    const lock = await WriteLock.acquire(root, lockTimeoutMs, () => Collection.#holder(root));
    try {
      // Under the lock: two creators racing for one directory cannot both get here.
      if (existsSync(join(root, MANIFEST))) throw new CrossrankError('ERR_COLLECTION_EXISTS', `a collection already exists in ${root}`);
      const { db } = openWriter(root);
      const manifest: Manifest = {
        format: FORMAT,
        version: 2,
        seq: 0,
        files: { faiss: null, bm25: null, bm25Ids: null },
        stale: 0,
        dense: embedder ? { factory, metric, dim: embedder.dim, embedder: spec, ...(trainSize ? { trainSize } : {}) } : null,
        bm25: bm25Opts,
      };
      const view: View = {
        manifest,
        faiss,
        trained: faiss?.isTrained ?? false,
        denseCount: 0,
        staging: null,
        stagingCount: 0,
        bm25: bm25Opts ? Bm25Index.create(bm25Opts) : null,
        bm25Ids: bm25Opts ? new IdMap() : null,
        stale: 0,
      };
      const c = new Collection(root, db, view, embedder, lock, 0);
      c.#recordHolder();
      await c.#checkpoint();
      return c;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /**
   * Open an existing collection. For writing (the default) it takes the write lock
   * (ERR_COLLECTION_LOCKED naming the holder's pid when another process has it), converts a
   * collection of format 1, and recovers rows added after the last checkpoint. With
   * `readOnly: true` it only reads.
   */
  static async open(dir: string, options: OpenOptions = {}): Promise<Collection> {
    validateString(dir, 'dir');
    validateObject(options as unknown, 'options');
    if (options.embedder !== undefined && !(options.embedder instanceof BiEncoder)) throw invalidType('options.embedder', 'a BiEncoder', options.embedder);
    const readOnly = options.readOnly ?? false;
    validateBoolean(readOnly, 'options.readOnly');
    const lockTimeoutMs = options.lockTimeoutMs ?? 0;
    validateInteger(lockTimeoutMs, 'options.lockTimeoutMs', 0);
    const refreshIntervalMs = options.refreshIntervalMs ?? 1000;
    validateInteger(refreshIntervalMs, 'options.refreshIntervalMs', 0);
    const root = resolve(dir);
    if (readOnly) return Collection.#openReader(root, options.embedder, refreshIntervalMs);
    readManifest(root); // a missing or broken manifest fails before anything is created or locked
    const lock = await WriteLock.acquire(root, lockTimeoutMs, () => Collection.#holder(root));
    let db: Database.Database | null = null;
    try {
      const read = readManifest(root);
      const opened = openWriter(root, () => faultPoint('migrate:schema'));
      db = opened.db;
      const manifest = read.version === 1 ? Collection.#fromV1(root, read) : read;
      const embedder = await Collection.#embedderFor(root, manifest, options.embedder);
      const rebuild = read.version === 1 || opened.converted;
      const view = rebuild ? Collection.#emptyView(manifest) : await Collection.#loadView(root, db, manifest);
      const c = new Collection(root, db, view, embedder, lock, 0);
      c.#recordHolder();
      if (rebuild) {
        // Format 1 reused rowids and kept no stale count: its index files cannot be trusted.
        await c.#rebuild(true);
      } else {
        await c.#clearPendingIfTrained();
        await c.#recover();
      }
      const d = manifest.dense;
      if (d?.trainSize && !c.#view.trained && c.#view.stagingCount >= d.trainSize) await c.#train();
      return c;
    } catch (e) {
      db?.close();
      lock.release();
      throw e;
    }
  }

  static async #openReader(root: string, embedder: BiEncoder | undefined, refreshIntervalMs: number): Promise<Collection> {
    const first = readManifest(root);
    if (first.version !== 2) {
      throw new CrossrankError('ERR_COLLECTION_FORMAT', `${join(root, MANIFEST)} is format ${first.version}; open the collection once for writing to convert it (a read-only open writes nothing)`);
    }
    const db = openReader(root);
    try {
      const emb = await Collection.#embedderFor(root, first, embedder);
      const c = new Collection(root, db, await Collection.#loadReaderView(root, db), emb, null, refreshIntervalMs);
      c.#manifestStamp = Collection.#stamp(root);
      return c;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  static async #embedderFor(root: string, m: Manifest, given: BiEncoder | undefined): Promise<BiEncoder | null> {
    if (!m.dense) return null;
    let embedder = given ?? null;
    if (!embedder && m.dense.embedder) embedder = await loadEmbedder(root, m.dense.embedder);
    if (!embedder) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'this collection has a dense index: pass options.embedder');
    if (!embedder.dim) await embedder.embed(['dimension probe']);
    if (embedder.dim !== m.dense.dim) {
      throw new CrossrankError('ERR_DIMENSION_MISMATCH', `the embedder makes ${embedder.dim}-dimensional vectors; the collection's index holds ${m.dense.dim}`);
    }
    return embedder;
  }

  /** A format-1 manifest as format 2 (before its indexes are rebuilt). */
  static #fromV1(root: string, m: ManifestV1): Manifest {
    const e = m.dense?.embedder;
    return {
      format: FORMAT,
      version: 2,
      seq: m.seq,
      files: { faiss: null, bm25: null, bm25Ids: null },
      stale: 0,
      dense: m.dense ? { ...m.dense, embedder: e ? embedderSpec(root, resolve(root, e.model), e.options) : null } : null,
      bm25: m.bm25,
    };
  }

  static #emptyView(m: Manifest): View {
    const faiss = m.dense ? FaissIndex.create(m.dense.dim, m.dense.factory, { metric: m.dense.metric }) : null;
    return {
      manifest: m,
      faiss,
      trained: faiss?.isTrained ?? false,
      denseCount: 0,
      staging: null,
      stagingCount: 0,
      bm25: m.bm25 ? Bm25Index.create(m.bm25) : null,
      bm25Ids: m.bm25 ? new IdMap() : null,
      stale: 0,
    };
  }

  /**
   * Load the files of checkpoint `m`. All files are opened at once, right after the manifest was
   * read (a file the writer has since deleted is reported by the caller, who reads the manifest
   * again). Untrained: the pending vectors of the rows that checkpoint covers go to staging.
   */
  static async #loadView(root: string, db: Database.Database, m: Manifest): Promise<View> {
    const d = m.dense;
    const bm25Ids = m.files.bm25Ids ? IdMap.load(join(root, m.files.bm25Ids)) : m.bm25 ? new IdMap() : null;
    const [faiss, bm25] = await Promise.all([
      d ? (m.files.faiss ? FaissIndex.load(join(root, m.files.faiss)) : Promise.resolve(FaissIndex.create(d.dim, d.factory, { metric: d.metric }))) : null,
      m.bm25 ? (m.files.bm25 ? Bm25Index.load(join(root, m.files.bm25)) : Promise.resolve(Bm25Index.create(m.bm25))) : null,
    ]);
    const bad = (what: string) => new CrossrankError('ERR_CORRUPT_COLLECTION', `${join(root, MANIFEST)} checkpoint ${m.seq}: ${what}`);
    if (bm25 && bm25Ids && bm25.size !== bm25Ids.length) throw bad(`${m.files.bm25} holds ${bm25.size} documents, its id map ${m.files.bm25Ids} ${bm25Ids.length}`);
    if (faiss && d && faiss.dim !== d.dim) throw bad(`${m.files.faiss} holds ${faiss.dim}-dimensional vectors, the manifest says ${d.dim}`);
    if (faiss && m.files.faiss && !faiss.isTrained) throw bad(`${m.files.faiss} is not trained`);
    const view: View = {
      manifest: m,
      faiss,
      trained: faiss?.isTrained ?? false,
      denseCount: faiss?.ntotal ?? 0,
      staging: null,
      stagingCount: 0,
      bm25,
      bm25Ids,
      stale: m.stale,
    };
    if (m.stale > view.denseCount) throw bad(`stale is ${m.stale} but ${m.files.faiss} holds ${view.denseCount} vectors`);
    if (faiss && !view.trained) {
      const { ids, vectors } = await readPending(db, faiss.dim, m.seq);
      if (ids.length) {
        view.staging = FaissIndex.create(faiss.dim, 'Flat', { metric: faiss.metric });
        await view.staging.add(vectors, ids);
        view.stagingCount = ids.length;
      }
    }
    return view;
  }

  /** A reader's view: loaded, then the manifest read again; a checkpoint that moved on meanwhile is loaded instead. */
  static async #loadReaderView(root: string, db: Database.Database): Promise<View> {
    let last: unknown;
    for (let attempt = 0; attempt < 8; attempt++) {
      const m = readManifest(root);
      if (m.version !== 2) throw new CrossrankError('ERR_COLLECTION_FORMAT', `${join(root, MANIFEST)} is format ${m.version}`);
      let view: View;
      try {
        view = await Collection.#loadView(root, db, m);
      } catch (e) {
        // A file of this checkpoint vanished: the writer has moved on twice since we read the manifest.
        if (readManifest(root).seq === m.seq) throw e;
        last = e;
        continue;
      }
      if (readManifest(root).seq === m.seq) return view;
      last = null;
    }
    if (last) throw last;
    throw new CrossrankError('ERR_COLLECTION_BUSY', `the collection in ${root} checkpointed faster than it could be loaded (8 tries)`);
  }

  static #stamp(root: string): string {
    try {
      const s = statSync(join(root, MANIFEST));
      return `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch {
      return '';
    }
  }

  /** Who holds the write lock, as recorded in docs.sqlite (null when unknown). */
  static #holder(root: string): LockHolder | null {
    if (!existsSync(join(root, DB_FILE))) return null;
    try {
      const db = openReader(root);
      try {
        const row = db.prepare("SELECT value FROM meta WHERE key = 'writer'").get() as { value: string } | undefined;
        return row ? (JSON.parse(row.value) as LockHolder) : null;
      } finally {
        db.close();
      }
    } catch {
      return null;
    }
  }

  #recordHolder(): void {
    this.#db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('writer', ?)").run(JSON.stringify(currentHolder()));
  }

  /** Run a write operation after the ones before it (one at a time on a handle). */
  #exclusive<T>(what: string, f: () => Promise<T>): Promise<T> {
    if (this.readOnly) return Promise.reject(readOnlyError(what));
    if (this.#closed) return Promise.reject(new CrossrankError('ERR_COLLECTION_CLOSED', `${what}: the collection is closed`));
    const run = this.#queue.then(f, f);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Documents in the collection (in SQLite now; a reader's searches see its last checkpoint). */
  get size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM docs').get() as { n: number }).n;
  }

  /** The checkpoint this handle searches. */
  get seq(): number {
    return this.#view.manifest.seq;
  }

  /** Vectors the dense index still holds for removed or replaced documents (until compact()). */
  get staleVectors(): number {
    return this.#view.stale;
  }

  /** Look a document up by id. */
  get(id: string): CollectionDoc | undefined {
    const r = this.#db.prepare('SELECT id, text, metadata FROM docs WHERE id = ?').get(id) as Row | undefined;
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
    return this.#exclusive('add', async () => {
      const find = this.#db.prepare('SELECT rowid, hash, seq FROM docs WHERE id = ?');
      let added = 0;
      let replaced = 0;
      let skipped = 0;
      for (let a = 0; a < docs.length; a += batchSize) {
        const todo: { doc: CollectionDoc; hash: string; old?: { rowid: number; seq: number } }[] = [];
        for (const doc of docs.slice(a, a + batchSize)) {
          const hash = hashText(doc.text, doc.metadata);
          const prev = find.get(doc.id) as { rowid: number; hash: string; seq: number } | undefined;
          if (prev?.hash === hash) skipped++;
          else todo.push({ doc, hash, ...(prev ? { old: { rowid: prev.rowid, seq: prev.seq } } : {}) });
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
    });
  }

  /** Remove documents by id; returns how many existed. */
  async remove(ids: readonly string[]): Promise<number> {
    if (!Array.isArray(ids)) throw invalidType('ids', 'an array of strings', ids);
    ids.forEach((id, i) => validateString(id, `ids[${i}]`));
    return this.#exclusive('remove', async () => {
      const seq = this.seq + 1;
      const find = this.#db.prepare('SELECT rowid, seq FROM docs WHERE id = ?');
      const rows = ids.map((id) => find.get(id) as { rowid: number; seq: number } | undefined).filter((r) => r !== undefined);
      const del = this.#db.prepare('DELETE FROM docs WHERE rowid = ?');
      const rem = this.#db.prepare('INSERT OR REPLACE INTO removed (rowid, seq, docseq) VALUES (?, ?, ?)');
      this.#db.transaction(() => {
        for (const r of rows) {
          del.run(r.rowid);
          rem.run(r.rowid, seq, r.seq);
        }
      })();
      faultPoint('remove:rows-committed');
      this.#dropFromIndexes(rows.map((r) => r.rowid), rows.length);
      if (rows.length) {
        this.#sinceCheckpoint += rows.length;
        await this.#checkpoint();
      }
      return rows.length;
    });
  }

  /**
   * Take rows out of the in-memory indexes (search also filters by SQLite). `inDense` of them are
   * in the dense index; where it cannot remove (HNSW) they stay there as stale vectors.
   */
  #dropFromIndexes(rowids: number[], inDense: number): void {
    if (!rowids.length) return;
    const v = this.#view;
    if (v.bm25 && v.bm25Ids) {
      const nums = rowids.map((r) => v.bm25Ids!.remove(r)).filter((n) => n >= 0);
      if (nums.length) v.bm25.remove(nums);
    }
    if (v.staging) {
      v.stagingCount -= v.staging.remove(rowids);
      const del = this.#db.prepare('DELETE FROM pending WHERE rowid = ?');
      this.#db.transaction(() => rowids.forEach((r) => del.run(r)))();
    }
    if (v.faiss && v.trained && inDense > 0) {
      if (this.#canRemove) {
        try {
          v.denseCount -= v.faiss.remove(rowids);
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_INDEX_UNSUPPORTED') throw e;
          this.#canRemove = false;
        }
      }
      v.stale += inDense; // HNSW keeps them: search skips them and fetches more
    }
  }

  async #indexBatch(todo: { doc: CollectionDoc; hash: string; old?: { rowid: number; seq: number } }[]): Promise<void> {
    const seq = this.seq + 1;
    const texts = todo.map((t) => t.doc.text);
    const vectors = this.#embedder ? await this.#embedder.embed(texts) : null;
    // SQLite first (the source of truth), then the in-memory indexes.
    const rowids: number[] = [];
    const del = this.#db.prepare('DELETE FROM docs WHERE rowid = ?');
    const rem = this.#db.prepare('INSERT OR REPLACE INTO removed (rowid, seq, docseq) VALUES (?, ?, ?)');
    const ins = this.#db.prepare('INSERT INTO docs (id, text, metadata, hash, seq) VALUES (?, ?, ?, ?, ?)');
    this.#db.transaction(() => {
      for (const t of todo) {
        if (t.old) {
          del.run(t.old.rowid);
          rem.run(t.old.rowid, seq, t.old.seq);
        }
        const info = ins.run(t.doc.id, t.doc.text, t.doc.metadata ? JSON.stringify(t.doc.metadata) : null, t.hash, seq);
        rowids.push(Number(info.lastInsertRowid));
      }
    })();
    faultPoint('add:rows-committed');
    const old = todo.flatMap((t) => (t.old ? [t.old.rowid] : []));
    this.#dropFromIndexes(old, old.length);
    await this.#addToIndexes(rowids, texts, vectors);
    faultPoint('add:indexed');
  }

  async #addToIndexes(rowids: number[], texts: string[], vectors: Float32Array | null): Promise<void> {
    const v = this.#view;
    if (v.bm25 && v.bm25Ids) v.bm25Ids.push(rowids, await v.bm25.add(texts));
    // Dense last: staging may train and checkpoint, which must find this batch in BM25 already.
    if (v.faiss && vectors) {
      if (v.trained) {
        await v.faiss.add(vectors, rowids);
        v.denseCount += rowids.length;
      } else await this.#stage(rowids, vectors);
    }
  }

  /** Keep vectors for an index that is not trained yet; train once enough are in. */
  async #stage(rowids: number[], vectors: Float32Array): Promise<void> {
    const v = this.#view;
    const dim = v.faiss!.dim;
    const put = this.#db.prepare('INSERT OR REPLACE INTO pending (rowid, vec) VALUES (?, ?)');
    this.#db.transaction(() =>
      rowids.forEach((r, i) => put.run(r, Buffer.from(vectors.buffer, vectors.byteOffset + i * dim * 4, dim * 4))),
    )();
    v.staging ??= FaissIndex.create(dim, 'Flat', { metric: v.faiss!.metric });
    await v.staging.add(vectors, rowids);
    v.stagingCount += rowids.length;
    if (v.stagingCount >= (v.manifest.dense?.trainSize ?? Infinity)) await this.#train();
  }

  /** Vectors waiting for the dense index to be trained (0 once it is). */
  get pendingVectors(): number {
    return this.#view.trained ? 0 : this.#view.stagingCount;
  }

  /**
   * Train the dense index (IVF, PQ) now on the vectors gathered so far and move them into it. Runs
   * by itself once `trainSize` documents are in; call it to train a smaller collection. A no-op
   * for an index that is trained already (Flat, HNSW, or trained before).
   */
  async train(): Promise<{ trained: boolean; vectors: number }> {
    return this.#exclusive('train', () => this.#train());
  }

  async #train(): Promise<{ trained: boolean; vectors: number }> {
    const v = this.#view;
    const d = v.manifest.dense;
    if (!v.faiss || !d || v.trained) return { trained: false, vectors: 0 };
    const { ids, vectors: all } = await readPending(this.#db, d.dim, Number.MAX_SAFE_INTEGER);
    const need = Math.max(1, v.faiss.nlist);
    if (ids.length < need) {
      throw new CrossrankError('ERR_TRAINING_DATA', `the dense index (${d.factory}) needs at least ${need} vectors to train, the collection has ${ids.length}`);
    }
    // Trained on a fresh index that nothing else touches: searches meanwhile use staging, and never
    // call a getter of an index busy training (it would wait for the training on the JS thread).
    // On an even spread of at most as many vectors as FAISS's k-means would sample (256 per
    // centroid, PQ codebooks included), and filled in slices: the addon copies each call's vectors
    // on the JS thread.
    const fresh = FaissIndex.create(d.dim, d.factory, { metric: d.metric });
    await fresh.train(await spread(all, d.dim, Math.max(256 * need, 65_536)));
    for (let a = 0; a < ids.length; a += 16 * CHUNK) {
      await fresh.add(all.subarray(a * d.dim, Math.min(ids.length, a + 16 * CHUNK) * d.dim), ids.subarray(a, a + 16 * CHUNK));
    }
    v.faiss = fresh;
    v.trained = true;
    v.denseCount = ids.length;
    v.staging = null;
    v.stagingCount = 0;
    faultPoint('train:trained');
    // The trained index is on disk (checkpoint) before the vectors it holds leave `pending`.
    this.#sinceCheckpoint++;
    await this.#checkpoint();
    await this.#clearPendingIfTrained();
    return { trained: true, vectors: ids.length };
  }

  /** Pending vectors are not needed once the checkpoint's index is trained (left by a crash, or just trained). */
  async #clearPendingIfTrained(): Promise<void> {
    if (!this.#view.trained) return;
    const del = this.#db.prepare('DELETE FROM pending WHERE rowid IN (SELECT rowid FROM pending LIMIT ?)');
    while (del.run(CHUNK).changes > 0) {
      faultPoint('train:pending-deleted-part');
      await yieldToLoop();
    }
  }

  /** Write index files for the current state under new names, then switch the manifest to them. */
  async #checkpoint(): Promise<void> {
    const v = this.#view;
    const seq = v.manifest.seq + 1;
    syncForCheckpoint(this.#db, seq);
    // An untrained index holds nothing yet: its vectors are in `pending` until training.
    const files: CheckpointFiles = {
      faiss: v.faiss && v.trained ? `vectors.${seq}.faiss` : null,
      bm25: v.bm25 ? `bm25.${seq}.bin` : null,
      bm25Ids: v.bm25 ? `bm25.${seq}.ids` : null,
    };
    if (v.faiss && files.faiss) {
      await v.faiss.save(join(this.dir, files.faiss));
      faultPoint('checkpoint:faiss-written');
    }
    if (v.bm25 && files.bm25 && files.bm25Ids) {
      await v.bm25.save(join(this.dir, files.bm25));
      faultPoint('checkpoint:bm25-written');
      await v.bm25Ids!.save(join(this.dir, files.bm25Ids));
      faultPoint('checkpoint:ids-written');
    }
    await fsyncDir(this.dir); // the index files' renames, before the manifest names them
    const prev = v.manifest.files;
    const manifest: Manifest = { ...v.manifest, seq, files, stale: v.stale };
    await writeFileAtomic(join(this.dir, MANIFEST), JSON.stringify(manifest, null, 2));
    faultPoint('checkpoint:manifest-renamed');
    v.manifest = manifest;
    this.#sinceCheckpoint = 0;
    if (this.#db.prepare('SELECT 1 FROM removed WHERE seq <= ? LIMIT 1').get(seq)) this.#db.prepare('DELETE FROM removed WHERE seq <= ?').run(seq);
    faultPoint('checkpoint:removed-deleted');
    // Keep this checkpoint's files and the previous one's (a reader may have just read the old
    // manifest); anything older, and temporary files of interrupted writes, go. (Not fsynced: a
    // deletion undone by a power loss is done again by the next checkpoint.)
    const keep = new Set([...Object.values(files), ...Object.values(prev)].filter(Boolean));
    for (const f of readdirSync(this.dir)) {
      if ((/^(vectors|bm25)\.\d+\.(faiss|bin|ids)$/.test(f) && !keep.has(f)) || /\.tmp-\d+$/.test(f)) rmSync(join(this.dir, f), { force: true });
    }
    faultPoint('checkpoint:files-deleted');
  }

  /** Bring the indexes loaded from the last checkpoint up to what SQLite holds. */
  async #recover(): Promise<void> {
    const s = this.seq;
    const removals = this.#db.prepare('SELECT rowid, docseq FROM removed WHERE seq > ?').all(s) as { rowid: number; docseq: number }[];
    this.#dropFromIndexes(
      removals.map((r) => r.rowid),
      removals.filter((r) => r.docseq <= s).length,
    );
    let n = 0;
    for await (const part of this.#rows('seq > ?', [s])) {
      const texts = part.map((r) => r.text);
      const vectors = this.#embedder ? await this.#embedder.embed(texts) : null;
      await this.#addToIndexes(part.map((r) => r.rowid), texts, vectors);
      n += part.length;
    }
    if (n || removals.length) {
      this.#db.prepare('UPDATE docs SET seq = ? WHERE seq > ?').run(this.seq + 1, this.seq);
      this.#sinceCheckpoint += n + removals.length;
      await this.#checkpoint();
    }
  }

  /** Documents matching `where` in rowid order, CHUNK at a time, yielding to the event loop between chunks. */
  async *#rows(where: string, params: unknown[]): AsyncGenerator<{ rowid: number; text: string }[]> {
    const stmt = this.#db.prepare(`SELECT rowid, text FROM docs WHERE rowid > ? AND (${where}) ORDER BY rowid LIMIT ${CHUNK}`);
    let after = 0;
    for (;;) {
      const part = stmt.all(after, ...params) as { rowid: number; text: string }[];
      if (!part.length) return;
      yield part;
      after = part[part.length - 1]!.rowid;
      await yieldToLoop();
    }
  }

  /**
   * Rebuild indexes from SQLite alone, in memory, then switch to them with one checkpoint (a crash
   * before it leaves the previous checkpoint in force): BM25 always (no tombstones, fresh numbering); the dense index when `dense` — a fresh
   * one (trained on a spread sample when it must be) holding exactly the documents' vectors.
   */
  async #rebuild(dense: boolean): Promise<void> {
    const v = this.#view;
    const m = v.manifest;
    const bm25 = m.bm25 ? Bm25Index.create(m.bm25) : null;
    const bm25Ids = m.bm25 ? new IdMap() : null;
    if (bm25 && bm25Ids) {
      for await (const part of this.#rows('1', [])) bm25Ids.push(part.map((r) => r.rowid), await bm25.add(part.map((r) => r.text)));
    }
    let next: Pick<View, 'faiss' | 'trained' | 'denseCount' | 'staging' | 'stagingCount' | 'stale'> | null = null;
    const d = m.dense;
    if (dense && d && this.#embedder) {
      const embedder = this.#embedder;
      const faiss = FaissIndex.create(d.dim, d.factory, { metric: d.metric });
      const total = this.size;
      const need = Math.max(1, faiss.nlist);
      if (!faiss.isTrained && total >= need && (v.trained || total >= (d.trainSize ?? Infinity))) {
        // Train on an even spread of the documents, as many as trainSize asks.
        const want = Math.min(total, Math.max(need, d.trainSize ?? total));
        const step = total / want;
        const texts: string[] = [];
        let i = 0;
        for await (const part of this.#rows('1', [])) {
          for (const r of part) {
            if (texts.length < want && i >= Math.floor(texts.length * step)) texts.push(r.text);
            i++;
          }
        }
        const sample = new Float32Array(texts.length * d.dim);
        for (let a = 0; a < texts.length; a += CHUNK) sample.set(await embedder.embed(texts.slice(a, a + CHUNK)), a * d.dim);
        await faiss.train(sample);
      }
      if (faiss.isTrained) {
        let count = 0;
        for await (const part of this.#rows('1', [])) {
          await faiss.add(await embedder.embed(part.map((r) => r.text)), part.map((r) => r.rowid));
          count += part.length;
        }
        next = { faiss, trained: true, denseCount: count, staging: null, stagingCount: 0, stale: 0 };
      } else {
        // Too few documents to train: every vector waits in `pending`, searched exactly. Rows are
        // replaced one by one (each by the same vector, unless it was damaged), so a crash midway
        // leaves a complete `pending` for the checkpoint in force.
        const put = this.#db.prepare('INSERT OR REPLACE INTO pending (rowid, vec) VALUES (?, ?)');
        const staging = FaissIndex.create(d.dim, 'Flat', { metric: d.metric });
        let count = 0;
        for await (const part of this.#rows('1', [])) {
          const vecs = await embedder.embed(part.map((r) => r.text));
          this.#db.transaction(() => part.forEach((r, i) => put.run(r.rowid, Buffer.from(vecs.buffer, vecs.byteOffset + i * d.dim * 4, d.dim * 4))))();
          await staging.add(vecs, part.map((r) => r.rowid));
          count += part.length;
        }
        this.#db.exec('DELETE FROM pending WHERE rowid NOT IN (SELECT rowid FROM docs)');
        next = { faiss, trained: false, denseCount: 0, staging, stagingCount: count, stale: 0 };
      }
    }
    faultPoint('compact:rebuilt');
    if (bm25) Object.assign(v, { bm25, bm25Ids });
    if (next) Object.assign(v, next);
    this.#canRemove = true;
    this.#db.prepare('UPDATE docs SET seq = ? WHERE seq > ?').run(this.seq + 1, this.seq);
    this.#sinceCheckpoint++;
    await this.#checkpoint();
    await this.#clearPendingIfTrained();
  }

  /**
   * Rebuild the indexes without what removals and replacements left behind — the stale vectors of
   * an index that cannot remove (HNSW) and BM25's tombstones — and switch to them in one
   * checkpoint (a crash before it leaves the previous checkpoint in force). The dense index is
   * re-embedded only when it holds stale vectors.
   */
  async compact(): Promise<{ staleVectors: number; bm25Tombstones: number }> {
    return this.#exclusive('compact', async () => {
      const v = this.#view;
      const before = { staleVectors: v.stale, bm25Tombstones: v.bm25Ids ? v.bm25Ids.length - v.bm25Ids.live : 0 };
      await this.#rebuild(v.stale > 0);
      return before;
    });
  }

  /**
   * For a read-only handle: load the newest checkpoint if there is a newer one than it searches.
   * Returns whether it changed. (A writer's handle is always current: false.)
   */
  async refresh(): Promise<boolean> {
    if (!this.readOnly) return false;
    if (this.#refreshError) {
      const e = this.#refreshError;
      this.#refreshError = null;
      throw e;
    }
    if (!this.#refreshing) {
      const run = (async () => {
        const stamp = Collection.#stamp(this.dir);
        if (readManifest(this.dir).seq === this.seq) {
          this.#manifestStamp = stamp;
          return false;
        }
        this.#view = await Collection.#loadReaderView(this.dir, this.#db);
        this.#manifestStamp = stamp;
        return true;
      })();
      this.#refreshing = run;
      run.then(
        () => (this.#refreshing = null),
        () => (this.#refreshing = null),
      );
    }
    return this.#refreshing;
  }

  /** Readers: start loading a newer checkpoint in the background when the manifest changed. */
  #maybeRefresh(): void {
    if (!this.readOnly || this.#refreshIntervalMs === 0 || this.#refreshing) return;
    const now = Date.now();
    if (now - this.#lastCheck < this.#refreshIntervalMs) return;
    this.#lastCheck = now;
    if (Collection.#stamp(this.dir) === this.#manifestStamp) return;
    this.refresh().catch((e: unknown) => {
      this.#refreshError = e; // searches go on with the loaded checkpoint; refresh() reports it
    });
  }

  /**
   * Check SQLite against every index of the checkpoint this handle searches: counts, the BM25 id
   * map, every id of a dense index that can list them (Flat, IVF), and a sample of documents
   * re-embedded and compared with their stored vectors. With `repair` (writers), rebuild all
   * indexes from SQLite when anything is wrong and check again.
   */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    validateObject(options as unknown, 'options');
    const sample = options.sample ?? 32;
    validateInteger(sample, 'options.sample', 0);
    const repair = options.repair ?? false;
    validateBoolean(repair, 'options.repair');
    if (this.readOnly) {
      if (repair) throw readOnlyError('verify({ repair: true })');
      // A writer may checkpoint while we check: the report must be of one checkpoint.
      let report: VerifyReport | null = null;
      for (let attempt = 0; attempt < 3; attempt++) {
        await this.refresh();
        report = await this.#check(this.#view, sample);
        if (readManifest(this.dir).seq === report.seq) return report;
      }
      return report!;
    }
    return this.#exclusive('verify', async () => {
      const report = await this.#check(this.#view, sample);
      if (!repair || report.ok) return report;
      await this.#rebuild(true);
      return { ...(await this.#check(this.#view, sample)), repaired: report.problems };
    });
  }

  async #check(v: View, sample: number): Promise<VerifyReport> {
    const problems: VerifyProblem[] = [];
    const s = v.manifest.seq;
    const dbPath = join(this.dir, DB_FILE);
    const quick = guarded(dbPath, () => this.#db.pragma('quick_check') as { quick_check: string }[]);
    if (quick.length !== 1 || quick[0]!.quick_check !== 'ok') problems.push({ part: 'sqlite', message: `quick_check: ${quick.map((r) => r.quick_check).join('; ')}` });
    // What the checkpoint's indexes must hold: its rows, and rows removed since (a reader's view).
    const live: number[] = [];
    for await (const part of this.#rows('seq <= ?', [s])) for (const r of part) live.push(r.rowid);
    const since = (this.#db.prepare('SELECT rowid FROM removed WHERE seq > ? AND docseq <= ? ORDER BY rowid').all(s, s) as { rowid: number }[]).map((r) => r.rowid);
    const expected = new Set([...live, ...since]);
    const checked: VerifyReport['checked'] = {};
    const diff = (part: VerifyProblem['part'], what: string, found: Iterable<number>) => {
      const seen = new Set<number>();
      const dup: number[] = [];
      const extra: number[] = [];
      for (const r of found) {
        if (seen.has(r)) dup.push(r);
        else if (!expected.has(r)) extra.push(r);
        seen.add(r);
      }
      const missing = [...expected].filter((r) => !seen.has(r));
      const list = (xs: number[]) => `${xs.length} (rowids ${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''})`;
      if (missing.length) problems.push({ part, message: `${what}: documents missing: ${list(missing)}` });
      if (extra.length) problems.push({ part, message: `${what}: entries for no document: ${list(extra)}` });
      if (dup.length) problems.push({ part, message: `${what}: documents held twice: ${list(dup)}` });
    };
    if (v.bm25 && v.bm25Ids) {
      const ids = v.bm25Ids;
      checked.bm25 = { entries: ids.length, live: ids.live };
      if (v.bm25.size !== ids.length) problems.push({ part: 'bm25', message: `the index holds ${v.bm25.size} documents, its id map ${ids.length}` });
      if (v.bm25.live !== ids.live) problems.push({ part: 'bm25', message: `the index holds ${v.bm25.live} live documents, its id map ${ids.live}` });
      diff('bm25', 'id map', (function* () {
        for (const [rowid] of ids.entries()) yield rowid;
      })());
    }
    const d = v.manifest.dense;
    const picks = (n: number) => Array.from({ length: Math.min(n, live.length) }, (_, i) => live[Math.floor((i * live.length) / Math.min(n, live.length))]!);
    if (d && v.faiss && v.trained) {
      const total = v.faiss.ntotal;
      const enumerable = v.stale === 0 && total <= 1 << 20 && (v.faiss.nlist > 0 || /^(IDMap2?,)?Flat$/.test(d.factory));
      checked.dense = { vectors: total, stale: v.stale, enumerated: enumerable, sampled: 0 };
      if (total !== expected.size + v.stale) {
        problems.push({ part: 'dense', message: `the index holds ${total} vectors; ${expected.size} documents + ${v.stale} stale were expected` });
      }
      if (enumerable && total > 0) {
        const r = await v.faiss.search(new Float32Array(d.dim), total, v.faiss.nlist > 0 ? { nprobe: v.faiss.nlist } : {});
        diff('dense', 'ids', Array.from(r.ids, Number).filter((x) => x >= 0));
      }
      checked.dense.sampled = await this.#compareVectors(v, picks(sample), problems, async (q) => {
        const k = Math.min(total, 10 + Math.min(v.stale, 1000));
        return v.faiss!.search(q, k, { ...(v.faiss!.nlist > 0 ? { nprobe: v.faiss!.nlist } : {}), ...(/HNSW/.test(d.factory) ? { efSearch: Math.max(256, k) } : {}) });
      }, storesExactVectors(d.factory));
    } else if (d && v.faiss) {
      const pending = (this.#db.prepare('SELECT p.rowid AS rowid FROM pending p JOIN docs d ON d.rowid = p.rowid WHERE d.seq <= ?').all(s) as { rowid: number }[]).map((r) => r.rowid);
      checked.pending = { vectors: v.stagingCount, sampled: 0 };
      if (pending.length !== v.stagingCount) problems.push({ part: 'pending', message: `SQLite holds ${pending.length} pending vectors, the staging index ${v.stagingCount}` });
      if (v.staging && v.stagingCount > 0) {
        const r = await v.staging.search(new Float32Array(d.dim), v.stagingCount);
        diff('pending', 'staged ids', Array.from(r.ids, Number).filter((x) => x >= 0));
        checked.pending.sampled = await this.#compareVectors(v, picks(sample), problems, (q) => v.staging!.search(q, Math.min(v.stagingCount, 10)), true);
      } else if (expected.size) diff('pending', 'staged ids', []);
    }
    return { ok: problems.length === 0, seq: s, documents: live.length, problems, checked };
  }

  /** Re-embed documents and find each one's own vector in the index (with `exact`, at its exact score). */
  async #compareVectors(v: View, rowids: number[], problems: VerifyProblem[], search: (q: Float32Array) => Promise<{ ids: BigInt64Array; scores: Float32Array }>, exact: boolean): Promise<number> {
    if (!rowids.length || !this.#embedder) return 0;
    const d = v.manifest.dense!;
    const get = this.#db.prepare('SELECT text FROM docs WHERE rowid = ?');
    const rows = rowids.map((r) => ({ rowid: r, text: (get.get(r) as { text: string } | undefined)?.text })).filter((r): r is { rowid: number; text: string } => r.text !== undefined);
    const vecs = await this.#embedder.embed(rows.map((r) => r.text));
    const bad: string[] = [];
    for (const [i, row] of rows.entries()) {
      const q = vecs.subarray(i * d.dim, (i + 1) * d.dim);
      const r = await search(q);
      const at = Array.from(r.ids, Number).indexOf(row.rowid);
      let self = 0;
      for (const x of q) self += x * x;
      const want = d.metric === 'ip' ? self : 0;
      // Stored exactly, the document's own vector is its text's nearest, at the self-similarity.
      if (exact && (at < 0 || Math.abs(r.scores[at]! - want) > 1e-3 * Math.max(1, self))) {
        bad.push(`rowid ${row.rowid}: stored vector differs from its text's embedding (${at < 0 ? 'not among its nearest' : `score ${r.scores[at]}, expected ${want}`})`);
      } else if (at < 0) bad.push(`rowid ${row.rowid}: not among the nearest vectors of its text's embedding`);
    }
    if (bad.length) problems.push({ part: v.trained ? 'dense' : 'pending', message: `${bad.length} of ${rows.length} sampled documents: ${bad.slice(0, 3).join('; ')}` });
    return rows.length;
  }

  /** The live rows among `rowids` (a hit whose row is gone — removed or replaced — is skipped). */
  #lookup(cache: Map<number, Row | null>, rowid: number): Row | null {
    let row = cache.get(rowid);
    if (row === undefined) {
      row = (this.#db.prepare('SELECT id, text, metadata FROM docs WHERE rowid = ?').get(rowid) as Row | undefined) ?? null;
      cache.set(rowid, row);
    }
    return row;
  }

  /**
   * The first `want` hits of an index whose entries may name rows that are gone: ask for more than
   * `want` in proportion to the dead entries, and again for more until `want` live ones are found
   * or the index has no more to give.
   */
  async #liveHits(
    total: number,
    dead: number,
    want: number,
    cache: Map<number, Row | null>,
    search: (k: number) => Promise<{ rowids: number[]; scores: ArrayLike<number> }>,
  ): Promise<{ rowid: number; score: number }[]> {
    const most = Math.min(total, 1 << 20);
    if (most <= 0) return [];
    let k = Math.min(most, Math.ceil((want * total) / Math.max(1, total - dead)) + (dead > 0 ? 16 : 0));
    for (;;) {
      const r = await search(k);
      const out: { rowid: number; score: number }[] = [];
      const seen = new Set<number>();
      let returned = 0;
      r.rowids.forEach((rowid, i) => {
        if (rowid < 0) return;
        returned++;
        if (out.length >= want || seen.has(rowid) || !this.#lookup(cache, rowid)) return;
        seen.add(rowid);
        out.push({ rowid, score: r.scores[i]! });
      });
      // Fewer entries than asked for: the index (at these search settings) has no more.
      if (out.length >= want || k >= most || returned < k) return out;
      k = Math.min(most, k * 4);
    }
  }

  /**
   * One checkpoint's indexes as a first stage reads them (the collection retriever,
   * retrievers/collection.ts): live hits only, documents looked up in SQLite. Readers pick up a
   * newer checkpoint here (at most every refreshIntervalMs); a snapshot keeps the one it took.
   */
  snapshot(): CollectionSnapshot {
    this.#maybeRefresh();
    const v = this.#view;
    const cache = new Map<number, Row | null>();
    const embedder = this.#embedder;
    return {
      dense: v.faiss !== null,
      bm25: v.bm25 !== null,
      denseHits: async (query, want, params, signal) => {
        if (!v.faiss || !embedder) throw new CrossrankError('ERR_NO_DENSE_INDEX', 'this collection has no dense index');
        const q = await embedder.embed([query], signal ? { signal } : {});
        const index = v.trained ? v.faiss : v.staging;
        const total = v.trained ? v.denseCount : v.stagingCount;
        // HNSW returns at most efSearch hits: widen the beam to what is asked (FAISS's default is 16).
        const hnsw = index === v.faiss && /HNSW/.test(v.manifest.dense!.factory) && !/IVF/.test(v.manifest.dense!.factory);
        if (!index) return [];
        return this.#liveHits(total, v.trained ? v.stale : 0, want, cache, async (k) => {
          const r = await index.search(q, k, index === v.faiss ? (hnsw ? { ...params, efSearch: Math.max(params.efSearch ?? 16, k) } : params) : {});
          return { rowids: Array.from(r.ids, Number), scores: r.scores };
        });
      },
      bm25Hits: async (query, want) => {
        if (!v.bm25 || !v.bm25Ids) throw new CrossrankError('ERR_NO_BM25_INDEX', 'this collection has no BM25 index');
        const ids = v.bm25Ids;
        const bm25 = v.bm25;
        return this.#liveHits(ids.live, 0, want, cache, async (k) => {
          const r = await bm25.search(query, k);
          return { rowids: Array.from(r.docs, (d) => ids.rowid(d)), scores: r.scores };
        });
      },
      doc: (rowid) => {
        const row = this.#lookup(cache, rowid);
        return row && { id: row.id, text: row.text, ...(row.metadata ? { metadata: JSON.parse(row.metadata) as Record<string, unknown> } : {}) };
      },
    };
  }

  /**
   * Two-stage search: first stage (dense, BM25 or their reciprocal-rank fusion) returns
   * `candidates`; with `rerank`, a cross-encoder re-scores them. Each hit carries its first-stage
   * rank and score so movement is one subtraction. A Pipeline over a CollectionRetriever does the
   * work (and takes any reranker, cascades, per-stage timings).
   */
  async search(query: string, options: SearchOptions = {}): Promise<SearchResult> {
    validateString(query, 'query');
    validateNonEmpty(query, 'query');
    validateObject(options as unknown, 'options');
    validateKeys(options, 'options', SEARCH_OPTION_KEYS);
    const rr = options.rerank as { score?: unknown; rerank?: unknown } | null | undefined;
    if (rr !== undefined && (rr === null || typeof rr !== 'object' || (typeof rr.score !== 'function' && typeof rr.rerank !== 'function'))) {
      throw invalidType('options.rerank', 'a loaded reranker: a CrossEncoder, RerankPool or LlmReranker (load a model path or id with CrossEncoder.load)', options.rerank);
    }
    if (this.#closed) throw new CrossrankError('ERR_COLLECTION_CLOSED', 'search: the collection is closed');
    const retriever = new CollectionRetriever(this, {
      ...(options.first !== undefined ? { first: options.first } : {}),
      ...(options.nprobe !== undefined ? { nprobe: options.nprobe } : {}),
      ...(options.efSearch !== undefined ? { efSearch: options.efSearch } : {}),
    });
    const pipeline = new Pipeline({ retriever, ...(options.rerank ? { rerank: options.rerank } : {}) });
    const res = await pipeline.search(query, {
      candidates: options.candidates ?? 100,
      topK: options.topK ?? 10,
      ...(options.latencyBudgetMs !== undefined ? { latencyBudgetMs: options.latencyBudgetMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return {
      hits: res.hits.map(({ stage: _s, ...h }) => h),
      first: retriever.first,
      candidates: res.candidates,
      timings: res.timings,
      ...(res.plan ? { plan: res.plan } : {}),
    };
  }

  /** Checkpoint pending work, close the database and (writers) let go of the write lock. */
  close(): Promise<void> {
    this.#closing ??= this.readOnly
      ? (async () => {
          this.#closed = true;
          await this.#refreshing?.catch(() => {});
          this.#db.close();
        })()
      : this.#exclusive('close', async () => {
          this.#closed = true;
          try {
            if (this.#sinceCheckpoint > 0) await this.#checkpoint();
            this.#db.prepare("DELETE FROM meta WHERE key = 'writer'").run();
          } finally {
            this.#db.close();
            this.#lock!.release();
          }
        });
    return this.#closing;
  }
}

/**
 * At most `most` of the `dim`-wide rows of `all`, evenly spread (all of them when there are no
 * more), copied a slice at a time between turns of the event loop.
 */
async function spread(all: Float32Array, dim: number, most: number): Promise<Float32Array> {
  const n = all.length / dim;
  if (n <= most) return all;
  const out = new Float32Array(most * dim);
  for (let i = 0, o = 0; i < most; i++) {
    const from = Math.floor((i * n) / most) * dim;
    for (let j = 0; j < dim; j++) out[o++] = all[from + j]!;
    if (i % (4 * CHUNK) === 4 * CHUNK - 1) await yieldToLoop();
  }
  return out;
}

/**
 * Pending vectors of live documents up to checkpoint `maxSeq`, in rowid order, read a chunk at a
 * time (copied as they come into arrays sized once) so a large set never holds the event loop for
 * long. Ids come as a BigInt64Array, which FaissIndex takes without a per-id pass.
 */
async function readPending(db: Database.Database, dim: number, maxSeq: number): Promise<{ ids: BigInt64Array; vectors: Float32Array }> {
  const stmt = db.prepare(`SELECT p.rowid AS rowid, p.vec AS vec FROM pending p JOIN docs d ON d.rowid = p.rowid WHERE d.seq <= ? AND p.rowid > ? ORDER BY p.rowid LIMIT ${CHUNK}`);
  const most = (db.prepare('SELECT count(*) AS n FROM pending').get() as { n: number }).n;
  const ids = new BigInt64Array(most);
  const bytes = new Uint8Array(most * dim * 4);
  let n = 0;
  let after = 0;
  for (;;) {
    const rows = stmt.all(maxSeq, after) as { rowid: number; vec: Buffer }[];
    if (!rows.length) break;
    if (n + rows.length > most) throw new CrossrankError('ERR_INTERNAL', 'pending vectors were added while they were read');
    for (const r of rows) {
      if (r.vec.length !== dim * 4) throw new CrossrankError('ERR_CORRUPT_COLLECTION', `pending vector of rowid ${r.rowid} has ${r.vec.length} bytes, expected ${dim * 4}`);
      ids[n] = BigInt(r.rowid);
      bytes.set(r.vec, n * dim * 4);
      n++;
    }
    after = rows[rows.length - 1]!.rowid;
    await yieldToLoop();
  }
  return { ids: n === most ? ids : ids.slice(0, n), vectors: new Float32Array(bytes.buffer, 0, n * dim) };
}
