/**
 * RerankPool: cross-encoder scoring spread over a Piscina pool of worker threads. Workers open the
 * model through the native session registry, so N workers hold ONE copy of the weights. A request
 * is cut into tasks of contiguous pairs; tasks of concurrent requests are dispatched round-robin,
 * one per worker at a time, so a large request cannot starve small ones. The queue is bounded.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CrossrankError, validateInteger, validateObject } from '../errors.js';
import { resolveModel, scorerSetup, type CrossEncoderOptions, type ResolvedModel } from '../inference/cross-encoder.js';
import { abortError, Scorer, type ChunkingOptions, type RawRequest, type RawScores } from '../inference/scorer.js';
import type { ScoreTask, TaskResult } from './worker.js';

export interface RerankPoolOptions extends CrossEncoderOptions {
  /** Worker threads. Default: cores ÷ threadsPerWorker (at least 1). */
  workers?: number;
  /** ONNX Runtime intra-op threads in each worker. Default 1. */
  threadsPerWorker?: number;
  /** Most requests admitted (queued or running) at once; more fail at once with ERR_QUEUE_FULL. Default 256. */
  maxQueue?: number;
  /** Most pairs per task; a request is split into tasks of this size or smaller. Default 64. */
  taskPairs?: number;
  /** A different worker module (it must default-export the same task handler); for instrumentation. */
  workerFile?: string;
}

export interface WorkerStats {
  threadId: number;
  tasks: number;
  busyMs: number;
  /** Busy time ÷ pool lifetime. */
  utilisation: number;
}

export interface PoolStats {
  workers: number;
  threadsPerWorker: number;
  /** Requests admitted and not finished. */
  requests: number;
  /** Tasks waiting for a worker. */
  queuedTasks: number;
  /** Tasks running now. */
  inFlight: number;
  pairsScored: number;
  /** Pairs scored per second of pool lifetime. */
  pairsPerSecond: number;
  perWorker: WorkerStats[];
}

interface Task {
  req: Request;
  part: number;
  start: number;
  end: number;
}

interface Request {
  queries: string[];
  docs: string[];
  pairQuery: Uint32Array | null;
  chunking: Required<ChunkingOptions> | false;
  cancel: SharedArrayBuffer;
  pending: Task[];
  running: number;
  parts: (RawScores | null)[];
  done: boolean;
  resolve(v: RawScores): void;
  reject(e: unknown): void;
}

// Worker threads run the compiled module (dist/), also when this file runs from src/ under a
// TypeScript loader (tests): src/pool and dist/pool sit at the same depth.
const WORKER_FILE = fileURLToPath(new URL('../../dist/pool/worker.js', import.meta.url));

export class RerankPool extends Scorer {
  readonly #piscina: Piscina;
  readonly #maxQueue: number;
  readonly #taskPairs: number;
  readonly #active: Request[] = [];
  readonly #workerStats = new Map<number, { tasks: number; busyMs: number }>();
  readonly #started = performance.now();
  #rr = 0;
  #running = 0;
  #pairsScored = 0;
  #closing: Promise<void> | null = null;
  readonly workers: number;
  readonly threadsPerWorker: number;
  /** Resolved model options (the same for every worker). */
  readonly model: ResolvedModel;

  private constructor(model: ResolvedModel, piscina: Piscina, workers: number, threadsPerWorker: number, maxQueue: number, taskPairs: number) {
    super(scorerSetup(model));
    this.model = model;
    this.#piscina = piscina;
    this.workers = workers;
    this.threadsPerWorker = threadsPerWorker;
    this.#maxQueue = maxQueue;
    this.#taskPairs = taskPairs;
  }

  /**
   * Start `workers` threads, each opening the model (one shared copy of the weights), and wait until
   * all are ready. Options are those of CrossEncoder.load plus the pool's own.
   */
  static async create(dirOrId: string, options: RerankPoolOptions = {}): Promise<RerankPool> {
    validateObject(options as unknown, 'options');
    const cores = availableParallelism();
    const threadsPerWorker = options.threadsPerWorker ?? options.threads ?? 1;
    validateInteger(threadsPerWorker, 'options.threadsPerWorker', 1, 1024);
    const workers = options.workers ?? Math.max(1, Math.floor(cores / threadsPerWorker));
    validateInteger(workers, 'options.workers', 1, 1024);
    const maxQueue = options.maxQueue ?? 256;
    validateInteger(maxQueue, 'options.maxQueue', 1);
    const taskPairs = options.taskPairs ?? 64;
    validateInteger(taskPairs, 'options.taskPairs', 1);
    const { workers: _w, threadsPerWorker: _t, maxQueue: _q, taskPairs: _p, workerFile, ...modelOptions } = options;
    const model = await resolveModel(dirOrId, { ...modelOptions, threads: threadsPerWorker });
    const piscina = new Piscina({
      filename: workerFile ?? WORKER_FILE,
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData: { model },
    });
    const pool = new RerankPool(model, piscina, workers, threadsPerWorker, maxQueue, taskPairs);
    // A worker that fails while starting (a model that will not load) is also reported as an
    // 'error' event: unheard, it would be an uncaughtException the caller cannot catch. The failed
    // ping below carries it to the caller.
    const onStartError = () => {};
    piscina.on('error', onStartError);
    try {
      const pings = await Promise.all(Array.from({ length: workers }, () => piscina.run({ kind: 'ping' }) as Promise<TaskResult>));
      for (const p of pings) pool.#workerStats.set(p.threadId, pool.#workerStats.get(p.threadId) ?? { tasks: 0, busyMs: 0 });
      piscina.off('error', onStartError);
    } catch (e) {
      await piscina.destroy();
      throw new CrossrankError('ERR_WORKER_START', `pool workers failed to start: ${(e as Error).message}`, { cause: e });
    }
    return pool;
  }

  /** Queue depth, in-flight work, throughput and per-worker utilisation. */
  stats(): PoolStats {
    const life = performance.now() - this.#started;
    return {
      workers: this.workers,
      threadsPerWorker: this.threadsPerWorker,
      requests: this.#active.length,
      queuedTasks: this.#active.reduce((n, r) => n + r.pending.length, 0),
      inFlight: this.#running,
      pairsScored: this.#pairsScored,
      pairsPerSecond: this.#pairsScored / (life / 1000),
      perWorker: [...this.#workerStats].map(([threadId, s]) => ({ threadId, tasks: s.tasks, busyMs: s.busyMs, utilisation: s.busyMs / life })),
    };
  }

  /**
   * Stop the pool. `drain` (default) finishes admitted requests first; `abort` fails queued ones
   * with ERR_POOL_CLOSED and cancels running ones between micro-batches. New requests fail at once.
   */
  close(options: { mode?: 'drain' | 'abort' } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const mode = options.mode ?? 'drain';
    this.#closing = (async () => {
      if (mode === 'abort') {
        for (const r of [...this.#active]) {
          Atomics.store(new Int32Array(r.cancel), 0, 1);
          this.#fail(r, new CrossrankError('ERR_POOL_CLOSED', 'the pool was closed while this request was queued or running'));
        }
      }
      while (this.#active.length || this.#running) await new Promise((res) => setTimeout(res, 5));
      await this.#piscina.destroy();
    })();
    return this.#closing;
  }

  protected computeRaw(raw: RawRequest, signal: AbortSignal | undefined): Promise<RawScores> {
    const { queries, docs, pairQuery, chunking } = raw;
    if (this.#closing) return Promise.reject(new CrossrankError('ERR_POOL_CLOSED', 'the pool is closed'));
    if (this.#active.length >= this.#maxQueue) {
      return Promise.reject(new CrossrankError('ERR_QUEUE_FULL', `the pool's queue is full (${this.#maxQueue} requests admitted); retry later`));
    }
    return new Promise<RawScores>((resolve, reject) => {
      const n = docs.length;
      const req: Request = {
        queries,
        docs,
        pairQuery,
        chunking,
        cancel: new SharedArrayBuffer(4),
        pending: [],
        running: 0,
        parts: [],
        done: false,
        resolve,
        reject,
      };
      // About four tasks per worker (at most taskPairs pairs each): one request uses every worker,
      // and workers that finish early take more, so uneven pair lengths even out.
      const per = Math.max(1, Math.min(this.#taskPairs, Math.ceil(n / (this.workers * 4))));
      for (let a = 0; a < n; a += per) req.pending.push({ req, part: req.pending.length, start: a, end: Math.min(n, a + per) });
      req.parts = new Array(req.pending.length).fill(null);
      if (signal) {
        const onAbort = () => {
          Atomics.store(new Int32Array(req.cancel), 0, 1);
          this.#fail(req, abortError(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const cleanup = () => signal.removeEventListener('abort', onAbort);
        req.resolve = (v) => {
          cleanup();
          resolve(v);
        };
        req.reject = (e) => {
          cleanup();
          reject(e);
        };
      }
      if (n === 0) {
        req.resolve(merge([], 0));
        return;
      }
      this.#active.push(req);
      this.#pump();
    });
  }

  #fail(req: Request, e: unknown): void {
    if (req.done) return;
    req.done = true;
    req.pending = [];
    const i = this.#active.indexOf(req);
    if (i >= 0) this.#active.splice(i, 1);
    req.reject(e);
    this.#pump();
  }

  /** Give free workers the next task, taking requests in turn. */
  #pump(): void {
    while (this.#running < this.workers) {
      const withWork = this.#active.filter((r) => r.pending.length);
      if (!withWork.length) return;
      const req = withWork[this.#rr++ % withWork.length]!;
      const task = req.pending.shift()!;
      this.#dispatch(task);
    }
  }

  #dispatch(task: Task): void {
    const { req } = task;
    const payload: ScoreTask = {
      kind: 'score',
      queries: req.queries,
      docs: req.docs.slice(task.start, task.end),
      pairQuery: req.pairQuery ? req.pairQuery.slice(task.start, task.end) : null,
      chunking: req.chunking,
      cancel: req.cancel,
    };
    this.#running++;
    req.running++;
    (this.#piscina.run(payload) as Promise<TaskResult>).then(
      (r) => {
        const s = this.#workerStats.get(r.threadId) ?? { tasks: 0, busyMs: 0 };
        s.tasks++;
        s.busyMs += r.busyMs;
        this.#workerStats.set(r.threadId, s);
        this.#settle(task, r.raw ?? null, r.error ? new CrossrankError(r.error.code, r.error.message) : null);
      },
      (e: unknown) => {
        this.#settle(task, null, new CrossrankError('ERR_WORKER_DIED', `a pool worker failed while scoring: ${(e as Error).message ?? e}`, { cause: e }));
      },
    );
  }

  #settle(task: Task, raw: RawScores | null, error: CrossrankError | null): void {
    const { req } = task;
    this.#running--;
    req.running--;
    if (raw) {
      this.#pairsScored += task.end - task.start;
      req.parts[task.part] = raw;
    }
    if (error) {
      if (error.code === 'ERR_ABORTED') error = new CrossrankError('ABORT_ERR', 'The operation was aborted');
      Atomics.store(new Int32Array(req.cancel), 0, 1);  // stop its other tasks early
      this.#fail(req, error);
    } else if (!req.done && req.running === 0 && req.pending.length === 0) {
      req.done = true;
      this.#active.splice(this.#active.indexOf(req), 1);
      req.resolve(merge(req.parts as RawScores[], req.docs.length));
    }
    this.#pump();
  }
}

/** Concatenate the raw results of consecutive tasks. */
function merge(parts: RawScores[], n: number): RawScores {
  const labels = parts[0]?.labels ?? 1;
  const out: RawScores = {
    labels,
    logits: new Float32Array(n * labels),
    bestChunk: new Uint32Array(n),
    chunks: new Uint32Array(n),
    spanStart: new Uint32Array(n),
    spanEnd: new Uint32Array(n),
    truncated: new Uint8Array(n),
    errors: [],
  };
  let at = 0;
  for (const p of parts) {
    const k = p.bestChunk.length;
    out.logits.set(p.logits, at * labels);
    out.bestChunk.set(p.bestChunk, at);
    out.chunks.set(p.chunks, at);
    out.spanStart.set(p.spanStart, at);
    out.spanEnd.set(p.spanEnd, at);
    out.truncated.set(p.truncated, at);
    out.errors.push(...p.errors);
    at += k;
  }
  return out;
}
