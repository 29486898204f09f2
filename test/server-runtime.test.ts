// The service under time and load pressure, on real sockets: the in-process admission queue (429 +
// Retry-After), per-request deadlines (504, the scoring stopped between micro-batches), connection
// timeouts and the connection cap, readiness while loading, and drain (in flight finishes, new
// requests 503, exit 0 from `crossrank serve` on SIGTERM).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { CrossEncoder, RerankPool, createServer, loadBeir, type Scorer } from '../src/index.js';
import { rejectionOf } from './helpers.js';
import { get, listen, metric, post, startCli, until, type Answer } from './server-helpers.js';
import { requireShared } from './shared.js';

const Q = 'animal testing should be banned';

describe('HTTP server runtime', () => {
  let ce: CrossEncoder;
  let docs: string[];
  /** Many distinct pairs at the full 512 tokens: seconds of scoring on bert-tiny. */
  let heavy: string[];

  beforeAll(async () => {
    docs = loadBeir(requireShared('fixtures/ir/beir-arguana')).docs.slice(0, 300).map((d) => `${d.title} ${d.text}`);
    heavy = Array.from({ length: 1000 }, (_, i) => `${i} ${docs[i % 300]!.repeat(4)}`);
    ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
  });

  /** Watch the scorer's raw runs: how each ended (resolved, or rejected with which code). */
  function watchRuns(scorer: Scorer): { outcomes: string[]; restore(): void } {
    const outcomes: string[] = [];
    const target = scorer as unknown as { computeRaw: (...a: unknown[]) => Promise<unknown> };
    const original = target.computeRaw.bind(scorer);
    const spy = vi.spyOn(target, 'computeRaw').mockImplementation((...args: unknown[]) =>
      original(...args).then(
        (r) => {
          outcomes.push('done');
          return r;
        },
        (e: { code?: string }) => {
          outcomes.push(e.code ?? 'error');
          throw e;
        },
      ),
    );
    return { outcomes, restore: () => spy.mockRestore() };
  }

  describe('in-process admission and deadlines', () => {
    let app: FastifyInstance;
    let url: string;
    beforeAll(async () => {
      app = await createServer({ reranker: ce, maxConcurrent: 1, maxQueue: 2, logger: false });
      url = await listen(app);
    });
    afterAll(async () => {
      await app?.close();
    });
    const admitted = async () => metric((await get(`${url}/metrics`, null)).text, 'crossrank_admission_running') + metric((await get(`${url}/metrics`, null)).text, 'crossrank_admission_waiting');

    it('one runs, one waits, the next gets 429 + Retry-After; the waiting one is answered after the first', async () => {
      const first = post(`${url}/rerank`, { query: Q, texts: heavy.slice(0, 300) }, null);
      await until(async () => (await admitted()) === 1);
      const second = post(`${url}/rerank`, { query: Q, texts: docs.slice(0, 5) }, null);
      await until(async () => (await admitted()) === 2);
      const third = await post(`${url}/rerank`, { query: Q, texts: docs.slice(0, 5) }, null);
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('1');
      expect(third.body).toMatchObject({ code: 'ERR_QUEUE_FULL', error_type: 'Overloaded' });
      const [a, b] = await Promise.all([first, second]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.body.map((r: { index: number }) => r.index)).toEqual((await ce.rerank(Q, docs.slice(0, 5))).map((r) => r.index));
    }, 120_000);

    it('a deadline asked for with X-Request-Timeout-Ms: 504, and the scoring stopped between micro-batches', async () => {
      const runs = watchRuns(ce);
      try {
        const res = await post(`${url}/rerank`, { query: Q, texts: heavy }, null, { 'x-request-timeout-ms': '300' });
        expect(res.status).toBe(504);
        expect(res.body).toMatchObject({ code: 'ERR_DEADLINE', error_type: 'Timeout' });
        await until(() => runs.outcomes.length === 1 && ce.inFlight === 0);
        expect(runs.outcomes).toEqual(['ABORT_ERR']);  // the native run stopped early, it did not finish
        // A request that waits in the queue past its deadline never runs.
        const blocker = post(`${url}/rerank`, { query: Q, texts: heavy.slice(0, 300) }, null);
        await until(async () => (await admitted()) === 1);
        const queued = await post(`${url}/rerank`, { query: Q, texts: docs.slice(0, 3) }, null, { 'x-request-timeout-ms': '50' });
        expect(queued.status).toBe(504);
        expect((await blocker).status).toBe(200);
        expect(runs.outcomes).toEqual(['ABORT_ERR', 'done']);
      } finally {
        runs.restore();
      }
      // The server's own deadline applies when the header asks for more.
      const short = await createServer({ reranker: ce, timeouts: { requestMs: 200 }, logger: false });
      try {
        const u = await listen(short);
        expect((await post(`${u}/rerank`, { query: Q, texts: heavy }, null, { 'x-request-timeout-ms': '600000' })).status).toBe(504);
      } finally {
        await short.close();
      }
    }, 120_000);
  });

  it('with a pool: the deadline stops the pool tasks, fewer pairs are scored than asked', async () => {
    const pool = await RerankPool.create(requireShared('models/bert-tiny-cross'), { workers: 1, cache: false });
    const app = await createServer({ reranker: pool, logger: false });
    try {
      const url = await listen(app);
      const res = await post(`${url}/v2/rerank`, { query: Q, documents: heavy }, null, { 'x-request-timeout-ms': '300' });
      expect(res.status).toBe(504);
      await until(() => pool.stats().requests === 0 && pool.stats().inFlight === 0);
      expect(pool.stats().pairsScored).toBeLessThan(heavy.length);
    } finally {
      await app.close();
      await pool.close();
    }
  }, 120_000);

  describe('connection timeouts and the connection cap', () => {
    let app: FastifyInstance;
    let port: number;
    beforeAll(async () => {
      app = await createServer({ reranker: ce, timeouts: { headersMs: 400, receiveMs: 800, keepAliveMs: 300, connectionMs: 5000 }, maxConnections: 3, logger: false });
      port = Number(new URL(await listen(app)).port);
    });
    afterAll(async () => {
      await app?.close();
    });

    /** A raw socket that records what the server sent and when it closed. */
    function raw(): Promise<{ s: Socket; data: () => string; closed: Promise<number> }> {
      return new Promise((resolve) => {
        const s = connect(port, '127.0.0.1');
        let data = '';
        const t0 = Date.now();
        s.on('data', (b) => (data += b.toString()));
        s.on('error', () => {});
        const closed = new Promise<number>((r) => s.on('close', () => r(Date.now() - t0)));
        s.on('connect', () => resolve({ s, data: () => data, closed }));
      });
    }

    it('headers that never finish and a body that trickles are cut off with 408; an idle keep-alive connection is closed', async () => {
      const slowHeaders = await raw();
      slowHeaders.s.write('POST /rerank HTTP/1.1\r\nHost: x\r\n');
      const slowBody = await raw();
      slowBody.s.write('POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query"');
      const drip = setInterval(() => slowBody.s.writable && slowBody.s.write(' '), 100);
      await Promise.all([slowHeaders.closed, slowBody.closed]);
      clearInterval(drip);
      expect(slowHeaders.data()).toMatch(/^HTTP\/1\.1 408 /);
      expect(slowBody.data()).toMatch(/^HTTP\/1\.1 408 /);

      const ka = await raw();
      ka.s.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      await ka.closed;
      expect(ka.data()).toMatch(/^HTTP\/1\.1 200 /);
    }, 30_000);

    it('connections past the cap are closed at once; the open ones are served', async () => {
      const open = await Promise.all([raw(), raw(), raw()]);
      const extra = await raw();
      await extra.closed;
      expect(extra.data()).toBe('');
      // The three within the cap still answer.
      open[0]!.s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => open[0]!.data().includes('"status":"ok"'));
      for (const o of open) o.s.destroy();
      await Promise.all(open.map((o) => o.closed));
      await until(async () => (await get(`http://127.0.0.1:${port}/health`, null).catch(() => ({ status: 0 }) as Answer)).status === 200);
    }, 30_000);
  });

  it('while the models load: /health and model routes answer 503 with Retry-After; ready once they are; a failed load stays 503', async () => {
    let resolve!: (s: Scorer) => void;
    const app = await createServer({ reranker: new Promise<Scorer>((r) => (resolve = r)), logger: false });
    try {
      const url = await listen(app);
      expect(app.crossrank.state).toBe('loading');
      const h = await get(`${url}/health`, null);
      expect(h.status).toBe(503);
      expect(h.body).toEqual({ status: 'loading' });
      const r = await post(`${url}/rerank`, { query: Q, texts: ['a'] }, null);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.body.code).toBe('ERR_LOADING');
      expect((await get(`${url}/info`, null)).status).toBe(503);
      resolve(ce);
      await app.crossrank.ready;
      expect((await get(`${url}/health`, null)).body).toEqual({ status: 'ok' });
      expect((await post(`${url}/rerank`, { query: Q, texts: ['a'] }, null)).status).toBe(200);
    } finally {
      await app.close();
    }
    const failing = await createServer({ reranker: Promise.reject(new Error('no such model')), logger: false });
    try {
      expect((await rejectionOf(failing.crossrank.ready)).message).toBe('no such model');
      const url = await listen(failing);
      expect((await get(`${url}/health`, null)).body).toEqual({ status: 'failed' });
    } finally {
      await failing.close();
    }
  });

  it('drain: /health and new requests answer 503 (Connection: close); the request in flight finishes; past the drain timeout it is aborted with 503', async () => {
    const app = await createServer({ reranker: ce, logger: false });
    try {
      const url = await listen(app);
      const inFlight = post(`${url}/rerank`, { query: Q, texts: heavy.slice(0, 200) }, null);
      await until(() => app.crossrank.inFlight === 1);
      const drained = app.crossrank.drain(60_000);
      const health = await get(`${url}/health`, null);
      expect(health.status).toBe(503);
      expect(health.body).toEqual({ status: 'draining' });
      const late = await post(`${url}/rerank`, { query: Q, texts: ['a'] }, null);
      expect(late.status).toBe(503);
      expect(late.body.code).toBe('ERR_DRAINING');
      expect(late.headers.get('connection')).toBe('close');
      expect((await inFlight).status).toBe(200);
      expect(await drained).toEqual({ finished: 1, aborted: 0 });
    } finally {
      await app.close();
    }
    const hurried = await createServer({ reranker: ce, logger: false });
    try {
      const url = await listen(hurried);
      const slow = post(`${url}/rerank`, { query: Q, texts: heavy }, null);
      await until(() => hurried.crossrank.inFlight === 1);
      expect(await hurried.crossrank.drain(100)).toEqual({ finished: 0, aborted: 1 });
      const res = await slow;
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('ERR_DRAINING');
    } finally {
      await hurried.close();
    }
  }, 120_000);

  it('`crossrank serve` on SIGTERM: readiness flips, the request in flight completes, new ones get 503, exit 0', async () => {
    const s = await startCli(['--rerank', requireShared('models/bert-tiny-cross'), '--drain-timeout-ms', '60000']);
    try {
      await until(async () => (await get(`${s.url}/health`, null)).status === 200);
      const inFlight = post(`${s.url}/rerank`, { query: Q, texts: heavy.slice(0, 200) }, null);
      await until(async () => metric((await get(`${s.url}/metrics`, null)).text, 'crossrank_admission_running') === 1);
      s.child.kill('SIGTERM');
      await until(() => s.output().includes('shutting down: draining'));
      expect((await get(`${s.url}/health`, null)).status).toBe(503);
      const late = await post(`${s.url}/v1/rerank`, { query: Q, documents: ['a'] }, null);
      expect(late.status).toBe(503);
      expect(late.body.code).toBe('ERR_DRAINING');
      const done = await inFlight;
      expect(done.status).toBe(200);
      expect(done.body).toHaveLength(200);
      expect(await s.exit).toBe(0);
      expect(s.output()).toContain('"finished":1,"aborted":0');
    } finally {
      s.child.kill('SIGKILL');
    }
  }, 120_000);
});
