/**
 * The write lock of a collection: one writer at a time, across processes.
 *
 * It is SQLite's own file lock (POSIX fcntl) on `write.lock`, a small SQLite file the writer's
 * connection opens with `locking_mode = EXCLUSIVE` and `BEGIN EXCLUSIVE`: the connection keeps the
 * exclusive lock until it closes. The kernel releases fcntl locks when a process ends however it
 * ends, so a writer killed with SIGKILL leaves no stale lock, with no heartbeat or timeout to tune
 * (a lock directory with an mtime heartbeat, as proper-lockfile keeps, can be declared stale while
 * its holder is merely blocked, and needs a wait before a dead holder's lock is taken over).
 * SQLite also arbitrates between connections of one process, so a second writer in the same
 * process is refused too. Readers never touch this file.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CrossrankError } from '../errors.js';

export const LOCK_FILE = 'write.lock';

/** Who holds the lock, as the holder recorded it (see Collection: the `writer` row of docs.sqlite). */
export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

export function currentHolder(): LockHolder {
  return { pid: process.pid, host: hostname(), since: new Date().toISOString() };
}

function alive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true; // cannot tell; trust the record
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class WriteLock {
  #db: Database.Database | null;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** One attempt: the lock, or null when another connection holds it. */
  static #try(dir: string): WriteLock | null {
    const db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = MEMORY');
      db.exec('BEGIN EXCLUSIVE; COMMIT');
      return new WriteLock(db);
    } catch (e) {
      db.close();
      if ((e as { code?: string }).code === 'SQLITE_BUSY') return null;
      throw new CrossrankError('ERR_COLLECTION_IO', `cannot take the write lock ${join(dir, LOCK_FILE)}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Take the lock of `dir`, waiting up to `timeoutMs` for a holder to let go. Otherwise
   * ERR_COLLECTION_LOCKED naming the holder's pid (read with `holder()`, which may lag the lock by
   * the moment a new holder takes to record itself).
   */
  static async acquire(dir: string, timeoutMs: number, holder: () => LockHolder | null): Promise<WriteLock> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lock = WriteLock.#try(dir);
      if (lock) return lock;
      if (Date.now() >= deadline) break;
      await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    // A holder records itself just after it takes the lock: give a fresh one a moment to do so.
    let h = holder();
    for (let i = 0; i < 20 && (!h || !alive(h)); i++) {
      await sleep(25);
      h = holder();
    }
    const who = h && alive(h) ? `pid ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ''} (since ${h.since})` : 'another process';
    const err = new CrossrankError(
      'ERR_COLLECTION_LOCKED',
      `the collection in ${dir} is open for writing by ${who}${timeoutMs > 0 ? `, still after ${timeoutMs} ms` : ''}; ` +
        'open it with { readOnly: true } to search it meanwhile, or pass lockTimeoutMs to wait',
    );
    return Promise.reject(Object.assign(err, { pid: h && alive(h) ? h.pid : undefined }));
  }

  /** Let go of the lock (closing the connection releases it). */
  release(): void {
    this.#db?.close();
    this.#db = null;
  }
}
