/**
 * docs.sqlite: the documents (the source of truth every index is derived from).
 *
 * Journal: WAL, so readers in other processes read while the writer writes. Batches commit with
 * synchronous = NORMAL (no fsync: a power loss may roll the last of them back), and every
 * collection checkpoint first commits under synchronous = FULL (`syncForCheckpoint`), which fsyncs
 * the WAL and with it every commit before. So no row an index file or manifest on disk refers to
 * can be lost, nor the AUTOINCREMENT counter behind it (a rolled-back counter would hand an old
 * vector's rowid to a new document); what a power loss can take is only work after the last
 * checkpoint, which no index holds — and add() and remove() checkpoint before they return. The
 * JS thread (better-sqlite3 is synchronous) waits for one fsync per checkpoint, not per batch.
 *
 * Schema 2 (this code): `docs.rowid` is AUTOINCREMENT, so document numbers are never reused.
 * Schema 1 (crossrank 0.1) reused the largest rowid after a delete; it is converted in place.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CrossrankError } from '../errors.js';

export const DB_FILE = 'docs.sqlite';
export const SCHEMA = 2;

const TABLES = `
  CREATE TABLE IF NOT EXISTS docs (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT,
    hash TEXT NOT NULL,
    seq INTEGER NOT NULL              -- the checkpoint that first holds this row in the indexes
  );
  CREATE INDEX IF NOT EXISTS docs_seq ON docs(seq);
  -- Rows deleted from docs whose index entries checkpoints up to seq - 1 may still hold
  -- (docseq: the deleted row's own seq; only rows of docseq < seq are in such a checkpoint).
  CREATE TABLE IF NOT EXISTS removed (rowid INTEGER PRIMARY KEY, seq INTEGER NOT NULL, docseq INTEGER NOT NULL);
  -- Vectors of documents waiting for the dense index to be trained.
  CREATE TABLE IF NOT EXISTS pending (rowid INTEGER PRIMARY KEY, vec BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** SQLite's complaint about a file that is not a usable database, as a typed error naming it. */
function sqliteError(path: string, e: unknown): Error {
  const code = (e as { code?: string }).code ?? '';
  if (['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CANTOPEN', 'SQLITE_IOERR_SHORT_READ'].includes(code) || code.startsWith('SQLITE_CORRUPT')) {
    return new CrossrankError('ERR_CORRUPT_COLLECTION', `${path} is not a readable crossrank document database (${code}: ${(e as Error).message})`, { cause: e });
  }
  return e as Error;
}

/** Run `f` on the database at `path`, turning "not a database" failures into ERR_CORRUPT_COLLECTION. */
export function guarded<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw sqliteError(path, e);
  }
}

function schemaOf(db: Database.Database): number {
  const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  if (!tables.has('docs')) return 0;
  if (!tables.has('meta')) return 1;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
  return row ? Number(row.value) : 1;
}

/**
 * Open for writing (the caller holds the write lock): WAL + FULL, tables created or converted from
 * schema 1. Returns whether a conversion happened.
 */
export function openWriter(root: string, onConverted: () => void = () => {}): { db: Database.Database; converted: boolean } {
  const path = join(root, DB_FILE);
  const db = guarded(path, () => new Database(path));
  try {
    return guarded(path, () => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const schema = schemaOf(db);
      if (schema > SCHEMA) throw new CrossrankError('ERR_COLLECTION_FORMAT', `${path} has schema ${schema}; this crossrank reads up to ${SCHEMA}`);
      let converted = false;
      if (schema === 1) {
        convertSchema1(db);
        converted = true;
        onConverted();
      } else {
        db.exec(TABLES);
        db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA));
      }
      return { db, converted };
    });
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Make every commit so far durable (one fsync of the WAL), before a checkpoint's files name its rows. */
export function syncForCheckpoint(db: Database.Database, seq: number): void {
  db.pragma('synchronous = FULL');
  try {
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('checkpoint', ?)").run(String(seq));
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}

/** Open read-only: never writes, never recovers; schema 2 only. */
export function openReader(root: string): Database.Database {
  const path = join(root, DB_FILE);
  const db = guarded(path, () => new Database(path, { readonly: true, fileMustExist: true }));
  try {
    const schema = guarded(path, () => schemaOf(db));
    if (schema === 0) throw new CrossrankError('ERR_CORRUPT_COLLECTION', `${path} holds no documents table`);
    if (schema !== SCHEMA) {
      throw new CrossrankError(
        'ERR_COLLECTION_FORMAT',
        `${path} has schema ${schema}; a read-only open reads schema ${SCHEMA} only (open the collection once for writing to convert an older one)`,
      );
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/**
 * Schema 1 → 2 in one transaction: docs rebuilt with AUTOINCREMENT, its counter set above every
 * rowid the old database mentions (so none is handed out again), removal records dropped (the
 * indexes are rebuilt from the documents after this).
 */
function convertSchema1(db: Database.Database): void {
  db.transaction(() => {
    const max = (sql: string) => ((db.prepare(sql).get() as { m: number | null }).m ?? 0);
    const top = Math.max(max('SELECT max(rowid) AS m FROM docs'), max('SELECT max(rowid) AS m FROM removed'), max('SELECT max(rowid) AS m FROM pending'));
    db.exec(`
      CREATE TABLE docs_v2 (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL,
        metadata TEXT, hash TEXT NOT NULL, seq INTEGER NOT NULL
      );
      INSERT INTO docs_v2 (rowid, id, text, metadata, hash, seq) SELECT rowid, id, text, metadata, hash, seq FROM docs;
      DROP TABLE docs;
      ALTER TABLE docs_v2 RENAME TO docs;
      DROP TABLE removed;
      DELETE FROM pending WHERE rowid NOT IN (SELECT rowid FROM docs);
    `);
    db.exec(TABLES);
    // Renaming docs_v2 renamed its counter row; it has no unique key, so update it or add it.
    if (db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'docs'").run(top).changes === 0) {
      db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('docs', ?)").run(top);
    }
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)").run(String(SCHEMA));
  })();
}
