/**
 * Fault injection for crash tests: `CROSSRANK_FAULT=<point>[@<n>]` makes this process SIGKILL
 * itself the n-th time (default the first) it reaches the named point of a write. Crash tests
 * choose where a writer dies instead of racing a timer against the disk. Unset, it costs one
 * comparison per point.
 */
import { CrossrankError } from '../errors.js';

/** Every point a writer passes, in the order a checkpoint passes them. */
export const FAULT_POINTS = [
  'add:rows-committed', // new rows are in SQLite, not yet in the in-memory indexes
  'add:indexed', // a batch is in the in-memory indexes, not yet checkpointed
  'remove:rows-committed', // rows deleted from SQLite, indexes not yet told
  'checkpoint:faiss-written', // the dense index file of the next checkpoint is on disk
  'checkpoint:bm25-written', // … and the BM25 file
  'checkpoint:ids-written', // … and the BM25 id map: every file, the manifest still the old one
  'checkpoint:manifest-renamed', // the new manifest is in place
  'checkpoint:removed-deleted', // removal records the checkpoint covers are gone
  'checkpoint:files-deleted', // files older than the previous checkpoint are gone
  'train:trained', // the dense index is trained and filled in memory, not yet checkpointed
  'train:pending-deleted-part', // after each chunk of pending vectors deleted once training is saved
  'compact:rebuilt', // compaction's new indexes are built in memory, not yet checkpointed
  'migrate:schema', // a format-1 database was converted, the manifest is still format 1
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

const spec = process.env.CROSSRANK_FAULT;
let target: string | null = null;
let at = 1;
let problem: string | null = null;
if (spec) {
  const m = /^([a-z0-9:-]+)(?:@([1-9]\d*))?$/.exec(spec);
  if (!m || !(FAULT_POINTS as readonly string[]).includes(m[1]!)) {
    problem = `CROSSRANK_FAULT must be <point>[@<n>] with a point among ${FAULT_POINTS.join(', ')}; got ${JSON.stringify(spec)}`;
  } else {
    target = m[1]!;
    at = m[2] ? Number(m[2]) : 1;
  }
}
let seen = 0;

/** Die here (SIGKILL, no cleanup) when CROSSRANK_FAULT names this point and its count is reached. */
export function faultPoint(name: FaultPoint): void {
  if (problem) throw new CrossrankError('ERR_INVALID_ARG_VALUE', problem);
  if (name !== target || ++seen < at) return;
  process.kill(process.pid, 'SIGKILL');
  // The signal is delivered at once; never run another line meanwhile.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}
