/**
 * A RerankPool worker thread. It loads the addon and opens the model through the process-wide
 * native session registry, so every worker shares one copy of the weights with the others.
 */
import { performance } from 'node:perf_hooks';
import { threadId, workerData } from 'node:worker_threads';
import { CrossEncoder, type ResolvedModel } from '../inference/cross-encoder.js';
import type { RawRequest, RawScores } from '../inference/scorer.js';

export interface ScoreTask extends RawRequest {
  kind: 'score';
  /** Int32Array view target: [0] set to 1 aborts between micro-batches. */
  cancel: SharedArrayBuffer;
}

export interface PingTask {
  kind: 'ping';
}

export interface TaskResult {
  threadId: number;
  busyMs: number;
  raw?: RawScores;
  /** Set instead of throwing so the error's `code` survives the thread boundary. */
  error?: { code: string; message: string };
}

const model = (workerData as { model: ResolvedModel }).model;
// Workers keep no cache of their own: the pool's cache lives on the main thread.
const encoder = CrossEncoder.fromResolved({ ...model, cacheEntries: 0 });

export default async function run(task: ScoreTask | PingTask): Promise<TaskResult> {
  const t0 = performance.now();
  if (task.kind === 'ping') return { threadId, busyMs: 0 };
  try {
    const raw = await encoder.scoreRawWithFlag(task, new Int32Array(task.cancel));
    return { threadId, busyMs: performance.now() - t0, raw };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { threadId, busyMs: performance.now() - t0, error: { code: err.code ?? 'ERR_NATIVE', message: String(err.message ?? e) } };
  }
}
