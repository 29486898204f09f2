// The HTTP service: TEI- and Cohere-shaped rerank, embed, two-stage search, health/info, metrics,
// and its errors (validation, batch limits, no-truncate, queue full, client gone).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { BiEncoder, Collection, CrossEncoder, RerankPool, createServer, loadBeir } from '../src/index.js';
import { startCli, until } from './server-helpers.js';
import { requireShared } from './shared.js';

const Q = 'animal testing should be banned';

describe('HTTP server', () => {
  let ce: CrossEncoder;
  let bi: BiEncoder;
  let col: Collection;
  let app: FastifyInstance;
  let docs: string[];

  beforeAll(async () => {
    const corpus = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    docs = corpus.docs.slice(0, 300).map((d) => `${d.title} ${d.text}`);
    ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    bi = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
    col = await Collection.create(mkdtempSync(join(tmpdir(), 'crossrank-server-')), { embedder: bi, factory: 'Flat' });
    await col.add(docs.map((text, i) => ({ id: `d${i}`, text })));
    app = await createServer({ reranker: ce, embedder: bi, collection: col, modelId: 'bert-tiny-cross', maxClientBatchSize: 200, logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await col?.close();
  });

  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });

  it('POST /rerank answers like TEI: best first, scores as the library gives them, raw_scores, return_text', async () => {
    const texts = docs.slice(0, 20);
    const res = await post('/rerank', { query: Q, texts, return_text: true });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { index: number; score: number; text: string }[];
    const expected = await ce.rerank(Q, texts);
    expect(body.map((r) => r.index)).toEqual(expected.map((r) => r.index));
    expect(body.map((r) => r.score)).toEqual(expected.map((r) => r.score));
    expect(body[0]!.text).toBe(texts[body[0]!.index]);
    const raw = (await post('/rerank', { query: Q, texts, raw_scores: true })).json() as { index: number; score: number }[];
    expect(raw.map((r) => r.score)).toEqual(expected.map((r) => r.logit));
    expect(raw[0]).not.toHaveProperty('text');
  });

  it('POST /v1/rerank answers like Cohere / Jina: top_n, documents as strings or objects, return_documents', async () => {
    const texts = docs.slice(0, 30);
    const res = await post('/v1/rerank', { query: Q, documents: texts.map((text, i) => (i % 2 ? { text } : text)), top_n: 5, return_documents: true });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { id: string; model: string; results: { index: number; relevance_score: number; document: { text: string } }[] };
    const expected = (await ce.rerank(Q, texts)).slice(0, 5);
    expect(body.results.map((r) => r.index)).toEqual(expected.map((r) => r.index));
    expect(body.results.map((r) => r.relevance_score)).toEqual(expected.map((r) => r.score));
    expect(body.results[2]!.document.text).toBe(texts[body.results[2]!.index]);
    expect(body.model).toBe('bert-tiny-cross');
    expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
    // rank_fields picks (and joins) object fields; max_chunks_per_doc scores windows of long documents.
    const objs = texts.slice(0, 4).map((t, i) => ({ title: `title ${i}`, body: t }));
    const rf = (await post('/v1/rerank', { query: Q, documents: objs, rank_fields: ['title', 'body'] })).json() as { results: { relevance_score: number }[] };
    const joined = await ce.rerank(Q, objs.map((o) => `${o.title}\n${o.body}`));
    expect(rf.results.map((r) => r.relevance_score)).toEqual(joined.map((r) => r.score));
    expect((await post('/v1/rerank', { query: Q, documents: objs })).statusCode).toBe(422);  // no "text" field
    const long = texts.slice(0, 3).map((t) => t.repeat(6));
    const chunked = (await post('/v1/rerank', { query: Q, documents: long, max_chunks_per_doc: 4 })).json() as { results: { index: number; relevance_score: number }[] };
    const lib = await ce.rerank(Q, long, { chunking: { maxChunks: 4 } });
    expect(chunked.results.map((r) => r.relevance_score)).toEqual(lib.map((r) => r.score));
    expect(lib.some((r) => r.chunk && r.chunk.count > 1)).toBe(true);
  });

  it('POST /embed returns the bi-encoder vectors; POST /search returns two-stage hits with their movement', async () => {
    const res = await post('/embed', { inputs: [docs[0], docs[1]] });
    expect(res.statusCode).toBe(200);
    const vecs = res.json() as number[][];
    const expected = await bi.embed([docs[0]!, docs[1]!]);
    expect(vecs).toHaveLength(2);
    expect(Float32Array.from(vecs.flat())).toEqual(expected);
    expect((await post('/embed', { inputs: docs[0] })).json()).toHaveLength(1);
    expect((await post('/embed', { inputs: [docs[0]], normalize: false })).statusCode).toBe(422);

    const s = await post('/search', { query: Q, candidates: 50, top_k: 5 });
    expect(s.statusCode).toBe(200);
    const sb = s.json() as { hits: { id: string; rank: number; score: number; first_stage_rank: number; moved: number; reranked: boolean }[]; first: string };
    const lib = await col.search(Q, { candidates: 50, topK: 5, rerank: ce });
    expect(sb.hits.map((h) => h.id)).toEqual(lib.hits.map((h) => h.id));
    expect(sb.hits.map((h) => h.moved)).toEqual(lib.hits.map((h) => h.firstStageRank - h.rank));
    expect(sb.hits.every((h) => h.reranked)).toBe(true);
    const plain = (await post('/search', { query: Q, rerank: false, first: 'dense', top_k: 3 })).json() as { hits: { reranked: boolean; moved: number }[] };
    expect(plain.hits.map((h) => [h.reranked, h.moved])).toEqual([[false, 0], [false, 0], [false, 0]]);
  });

  it('rejects bad input with TEI-shaped errors: 422 validation, 413 too many or too long, 404 for what is not configured', async () => {
    let res = await post('/rerank', { texts: ['a'] });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error_type: 'Validation', code: 'ERR_VALIDATION' });
    expect(res.json().error).toContain('query');
    res = await post('/rerank', { query: Q, texts: [1, 2] });
    expect(res.statusCode).toBe(422);
    res = await post('/rerank', { query: Q, texts: [] });
    expect(res.json()).toMatchObject({ code: 'ERR_EMPTY_INPUT' });
    res = await post('/rerank', { query: Q, texts: docs.slice(0, 201) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'ERR_TOO_MANY_INPUTS' });
    expect(res.json().error).toContain('201 > maximum allowed batch size 200');
    // Texts well over the model's pair limit (maxLength tokens).
    const long = [0, 1, 2].map((i) => docs[i]!.repeat(Math.ceil((ce.maxLength * 8) / docs[i]!.length)));
    res = await post('/rerank', { query: Q, texts: ['short text', ...long], truncate: false });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'ERR_INPUT_TOO_LONG', indices: [1, 2, 3] });
    expect((await post('/rerank', { query: Q, texts: long })).statusCode).toBe(200);  // auto-truncate
    res = await post('/rerank', { query: Q, texts: ['a'], truncation_direction: 'Left' });
    expect(res.json()).toMatchObject({ code: 'ERR_UNSUPPORTED' });
    res = await post('/search', { query: Q, first: 'sideways' });
    expect(res.statusCode).toBe(422);

    const bare = await createServer({ logger: false });
    res = await bare.inject({ method: 'POST', url: '/rerank', payload: { query: Q, texts: ['a'] } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'ERR_NOT_CONFIGURED' });
    await bare.close();
  });

  it('GET /health, /info and /metrics (request counts by route and status, pairs scored)', async () => {
    expect((await app.inject('/health')).json()).toEqual({ status: 'ok' });
    const info = (await app.inject('/info')).json();
    expect(info).toMatchObject({ model_id: 'bert-tiny-cross', model_type: 'reranker', max_input_length: ce.maxLength, max_client_batch_size: 200, endpoints: { rerank: true, embed: true, search: true }, collection: { size: 300 } });
    const before = await app.inject('/metrics');
    const count = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const pairsBefore = count(before.body, /^crossrank_pairs_scored_total (\d+)/m);
    const okBefore = count(before.body, /^crossrank_http_requests_total\{route="\/rerank",method="POST",status="200"\} (\d+)/m);
    await post('/rerank', { query: Q, texts: docs.slice(0, 7) });
    await post('/rerank', { query: Q, texts: [] });
    const after = await app.inject('/metrics');
    expect(after.headers['content-type']).toContain('text/plain');
    expect(count(after.body, /^crossrank_pairs_scored_total (\d+)/m)).toBe(pairsBefore + 7);
    expect(count(after.body, /^crossrank_http_requests_total\{route="\/rerank",method="POST",status="200"\} (\d+)/m)).toBe(okBefore + 1);
    expect(count(after.body, /^crossrank_http_requests_total\{route="\/rerank",method="POST",status="422"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(after.body).toMatch(/^crossrank_http_request_duration_seconds_bucket\{le="[\d.]+",route="\/rerank"\} \d+/m);
    expect(after.body).toContain('crossrank_process_resident_memory_bytes');
  });

  it('a full pool answers 429 with Retry-After; a client that goes away stops the scoring (499, counted)', async () => {
    const pool = await RerankPool.create(requireShared('models/bert-tiny-cross'), { workers: 1, maxQueue: 1, cache: false });
    const server = await createServer({ reranker: pool, logger: false });
    try {
      const first = server.inject({ method: 'POST', url: '/rerank', payload: { query: Q, texts: docs.slice(0, 200) } });
      await new Promise((r) => setTimeout(r, 20));
      const second = await server.inject({ method: 'POST', url: '/rerank', payload: { query: Q, texts: docs.slice(0, 3) } });
      expect(second.statusCode).toBe(429);
      expect(second.headers['retry-after']).toBe('1');
      expect(second.json()).toMatchObject({ code: 'ERR_QUEUE_FULL', error_type: 'Overloaded' });
      expect((await first).statusCode).toBe(200);

      // A real socket: send a large request, hang up while it is being scored.
      await server.listen({ port: 0, host: '127.0.0.1' });
      const { port } = server.server.address() as AddressInfo;
      // 1000 distinct pairs at the full 512 tokens: seconds of scoring, so the hang-up lands mid-run.
      const big = JSON.stringify({ query: Q, texts: Array.from({ length: 1000 }, (_, i) => `${i} ${docs[i % 300]!.repeat(4)}`) });
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/rerank', headers: { 'content-type': 'application/json' } });
        req.on('error', () => resolve());
        req.end(big, () => setTimeout(() => req.destroy(), 100));
      });
      let aborted = 0;
      for (let i = 0; i < 100 && aborted === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        aborted = Number(/^crossrank_requests_aborted_total\{route="\/rerank"\} (\d+)/m.exec((await server.inject('/metrics')).body)?.[1] ?? 0);
      }
      expect(aborted).toBe(1);
      expect(pool.stats().requests).toBe(0);  // nothing left running for the departed client
      expect((await server.inject({ method: 'POST', url: '/rerank', payload: { query: Q, texts: docs.slice(0, 3) } })).statusCode).toBe(200);
    } finally {
      await server.close();
      await pool.close();
    }
  }, 60_000);

  it('`crossrank serve` listens, answers, and exits cleanly on SIGTERM', async () => {
    const s = await startCli(['--rerank', requireShared('models/bert-tiny-cross'), '--workers', '1', '--max-batch', '50']);
    try {
      // It listens first and answers /health 503 while the model loads.
      await until(async () => (await fetch(`${s.url}/health`)).status === 200);
      const texts = docs.slice(0, 10);
      const res = await fetch(`${s.url}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: Q, texts }) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { index: number; score: number }[];
      expect(body.map((r) => r.index)).toEqual((await ce.rerank(Q, texts)).map((r) => r.index));
      expect((await (await fetch(`${s.url}/info`)).json()).max_client_batch_size).toBe(50);
      expect(s.output()).toMatch(/"url":"\/rerank".*"statusCode":200/s);  // pino request log
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exit).toBe(0);
    expect(s.output()).toContain('shutting down');
  }, 60_000);
});
