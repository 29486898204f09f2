// RerankPool: equal results to in-process scoring, one shared session, fairness, backpressure,
// abort, close and a worker that dies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CrossEncoder, CrossrankError, RerankPool, loadCranfield } from '../src/index.js';
import { addon } from '../src/native.js';
import { rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

const Q = 'pressure distribution on a slender body of revolution';

describe('RerankPool', () => {
  let dir: string;
  let docs: string[];
  let pool: RerankPool;

  beforeAll(async () => {
    dir = requireShared('models/bert-tiny-cross');
    docs = loadCranfield(requireShared('fixtures/ir/cranfield')).docs.map((d) => `${d.title} ${d.text}`);
    pool = await RerankPool.create(dir, { workers: 2, threadsPerWorker: 1, cache: false, taskPairs: 16 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('gives bit-identical fp32 scores to in-process scoring', async () => {
    const ce = await CrossEncoder.load(dir, { threads: 1, cache: false });
    const sample = docs.slice(0, 150);
    const local = await ce.score(Q, sample);
    const pooled = await pool.score(Q, sample);
    expect(Array.from(pooled)).toEqual(Array.from(local));
    const lr = await ce.rerank(Q, sample, { topK: 10 });
    const pr = await pool.rerank(Q, sample, { topK: 10 });
    expect(pr).toEqual(lr);
    const pairs = sample.slice(0, 20).map((d, i) => [i % 2 ? Q : 'shock waves', d] as [string, string]);
    expect(Array.from(await pool.scorePairs(pairs))).toEqual(Array.from(await ce.scorePairs(pairs)));
    ce.dispose();
  });

  it('spreads one request over every worker, which share one native session', async () => {
    const before = pool.stats().perWorker.map((w) => w.tasks);
    await pool.score(Q, docs.slice(0, 64));
    const after = pool.stats().perWorker.map((w) => w.tasks);
    expect(after.length).toBe(2);
    after.forEach((t, i) => expect(t).toBeGreaterThan(before[i]!));
    // The main thread opened no session; both workers hold the same one.
    expect(addon.NativeSession.liveSessions()).toBe(1);
    const s = pool.stats();
    expect(s.pairsScored).toBeGreaterThanOrEqual(64);
    expect(s.pairsPerSecond).toBeGreaterThan(0);
    expect(s.inFlight).toBe(0);
  });

  it('interleaves concurrent requests fairly: a small request does not wait for a large one', async () => {
    const order: string[] = [];
    const big = pool.score(Q, docs.slice(0, 640)).then(() => order.push('big'));
    const small = pool.score(Q, docs.slice(0, 16)).then(() => order.push('small'));
    await Promise.all([big, small]);
    expect(order).toEqual(['small', 'big']);
  });

  it('fails at once with ERR_QUEUE_FULL when the queue is full', async () => {
    const tiny = await RerankPool.create(dir, { workers: 1, maxQueue: 2, cache: false });
    const a = tiny.score(Q, docs.slice(0, 200));
    const b = tiny.score(Q, docs.slice(0, 200));
    const e = await rejectionOf(tiny.score(Q, docs.slice(0, 5)));
    expect(e).toBeInstanceOf(CrossrankError);
    expect(e.code).toBe('ERR_QUEUE_FULL');
    expect(tiny.stats().requests).toBe(2);
    await Promise.all([a, b]);
    expect((await tiny.score(Q, docs.slice(0, 5))).length).toBe(5);
    await tiny.close();
  });

  it('abort cancels queued and running work', async () => {
    const ac = new AbortController();
    const p = pool.score(Q, docs, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const e = await rejectionOf(p);
    expect(e.name).toBe('AbortError');
    expect(e.code).toBe('ABORT_ERR');
    const pre = new AbortController();
    pre.abort();
    expect((await rejectionOf(pool.score(Q, ['x'], { signal: pre.signal }))).code).toBe('ABORT_ERR');
    // The pool keeps working and settles to idle.
    expect((await pool.score(Q, docs.slice(0, 10))).length).toBe(10);
    expect(pool.stats()).toMatchObject({ inFlight: 0, requests: 0, queuedTasks: 0 });
  });

  it('close drains admitted work by default; abort mode fails it; later calls fail', async () => {
    const p1 = await RerankPool.create(dir, { workers: 1, cache: false });
    const running = p1.score(Q, docs.slice(0, 100));
    await p1.close();
    expect((await running).length).toBe(100);
    expect((await rejectionOf(p1.score(Q, ['x']))).code).toBe('ERR_POOL_CLOSED');

    const p2 = await RerankPool.create(dir, { workers: 1, cache: false });
    const busy = rejectionOf(p2.score(Q, docs));
    const queued = rejectionOf(p2.score(Q, docs.slice(0, 10)));
    await p2.close({ mode: 'abort' });
    expect((await busy).code).toBe('ERR_POOL_CLOSED');
    expect((await queued).code).toBe('ERR_POOL_CLOSED');
  });

  it('a worker that dies fails its request with a clear error and is replaced', async () => {
    const p = await RerankPool.create(dir, {
      workers: 1,
      cache: false,
      workerFile: join(import.meta.dirname, 'fixtures/crashing-worker.mjs'),
    });
    const e = await rejectionOf(p.score(Q, ['fine', '__crash__']));
    expect(e.code).toBe('ERR_WORKER_DIED');
    const again = await p.score(Q, docs.slice(0, 5));
    expect(again.length).toBe(5);
    await p.close();
  });

  it('validates pool options', async () => {
    await expect(RerankPool.create(dir, { workers: 0 })).rejects.toThrow(/options.workers/);
    await expect(RerankPool.create(dir, { maxQueue: -1 })).rejects.toThrow(/options.maxQueue/);
    await expect(RerankPool.create(dir, { threadsPerWorker: 1.5 })).rejects.toThrow(/options.threadsPerWorker/);
  });
});
