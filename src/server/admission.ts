/**
 * Admission for model work: at most `maxRunning` requests run at once, the rest wait in FIFO
 * order; at most `maxQueue` are admitted (running or waiting) and more fail at once with
 * ERR_QUEUE_FULL (429 + Retry-After), as the worker pool does. A waiting request whose signal
 * fires (client gone, deadline, drain) leaves the queue without running.
 */
import { CrossrankError } from '../errors.js';
import { abortError } from '../inference/scorer.js';

interface Waiter {
  resolve(release: () => void): void;
  reject(e: unknown): void;
}

export class Admission {
  #running = 0;
  readonly #waiting: Waiter[] = [];

  constructor(
    /** Requests running at once (Infinity: no cap, as behind a pool that schedules its own workers). */
    public maxRunning: number,
    readonly maxQueue: number,
  ) {}

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Wait for a turn; the returned function ends it (call it exactly once). */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.#running + this.#waiting.length >= this.maxQueue) {
      return Promise.reject(new CrossrankError('ERR_QUEUE_FULL', `the server's queue is full (${this.maxQueue} requests admitted); retry later`));
    }
    if (this.#running < this.maxRunning) return Promise.resolve(this.#start());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(w);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(abortError(signal));
      };
      const w: Waiter = {
        resolve: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(w);
    });
  }

  #start(): () => void {
    this.#running++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#running--;
      const next = this.#waiting.shift();
      if (next) next.resolve(this.#start());
    };
  }
}
