// The server over the pipeline: /v1/rerank and /v2/rerank pick one of several rerankers by
// `model` (unknown names: 404 in the TEI/Cohere error shape, listing them); /search runs the
// Pipeline and reports its stages; `crossrank serve` takes --rerank name=model and a config file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Collection, CollectionRetriever, CrossEncoder, Pipeline, createServer, loadBeir } from '../src/index.js';
import { KEY, post as postHttp, startCli, until } from './server-helpers.js';
import { requireShared } from './shared.js';

const Q = 'animal testing should be banned';

describe('server: named rerankers and /search through the pipeline', () => {
  let long: CrossEncoder;
  let short: CrossEncoder;
  let col: Collection;
  let app: FastifyInstance;
  let docs: string[];

  beforeAll(async () => {
    docs = loadBeir(requireShared('fixtures/ir/beir-arguana')).docs.slice(0, 200).map((d) => `${d.title} ${d.text}`);
    // Two rerankers that score differently: the same weights reading 512 or 32 tokens.
    long = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    short = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false, maxLength: 32 });
    col = await Collection.create(mkdtempSync(join(tmpdir(), 'crossrank-pipeline-server-')), { bm25: true });
    await col.add(docs.map((text, i) => ({ id: `d${i}`, text })));
    app = await createServer({ rerankers: { long, short }, collection: col, logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await col?.close();
  });

  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });

  it('model picks the reranker on /v1 and /v2; no model means the first; an unknown one is a 404 listing them', async () => {
    const texts = docs.slice(0, 12);
    const [byLong, byShort] = [await long.rerank(Q, texts), await short.rerank(Q, texts)];
    expect(byLong.map((r) => r.score)).not.toEqual(byShort.map((r) => r.score));
    for (const route of ['/v1/rerank', '/v2/rerank']) {
      for (const [model, want] of [['long', byLong], ['short', byShort], [undefined, byLong]] as const) {
        const res = await post(route, { query: Q, documents: texts, ...(model ? { model } : {}) });
        expect(res.statusCode, `${route} ${model}`).toBe(200);
        const body = res.json() as { results: { index: number; relevance_score: number }[] };
        expect(body.results.map((r) => [r.index, r.relevance_score])).toEqual(want.map((r) => [r.index, r.score]));
      }
      const bad = await post(route, { query: Q, documents: texts, model: 'rerank-v3.5' });
      expect(bad.statusCode).toBe(404);
      expect(bad.json()).toMatchObject({ error_type: 'NotFound', code: 'ERR_MODEL_NOT_FOUND', models: ['long', 'short'] });
      expect(bad.json().error).toBe(bad.json().message);
      expect(bad.json().message).toContain('"long", "short"');
    }
    // TEI's /rerank has no model: the default.
    const tei = (await post('/rerank', { query: Q, texts })).json() as { index: number; score: number }[];
    expect(tei.map((r) => r.score)).toEqual(byLong.map((r) => r.score));
  });

  it('/search gives the pipeline\'s hits and stages, with the reranker the request names', async () => {
    for (const model of ['long', 'short']) {
      const res = await post('/search', { query: Q, candidates: 30, top_k: 5, model });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { first: string; hits: { id: string; score: number; first_stage_rank: number; stage: number }[]; stages: { name: string; candidates: number; reranked: number; kept: number }[] };
      const lib = await new Pipeline({ retriever: new CollectionRetriever(col, { first: 'bm25' }), rerank: model === 'long' ? long : short, candidates: 30, topK: 5 }).search(Q);
      expect(body.first).toBe('bm25');
      expect(body.hits.map((h) => [h.id, h.score, h.first_stage_rank, h.stage])).toEqual(lib.hits.map((h) => [h.id, h.score, h.firstStageRank, 1]));
      expect(body.stages.map((s) => [s.name, s.candidates, s.reranked, s.kept])).toEqual([
        ['first', 30, 0, 30],
        ['rerank1', 30, 30, 30],
      ]);
    }
    expect((await post('/search', { query: Q, model: 'nope' })).statusCode).toBe(404);
    // The collection has no dense index: the request's fault (422), named.
    const dense = await post('/search', { query: Q, first: 'dense' });
    expect(dense.statusCode).toBe(422);
    expect(dense.json().code).toBe('ERR_NO_DENSE_INDEX');
  });

  it('a server with one reranker takes any model name (Cohere clients always send one)', async () => {
    const one = await createServer({ reranker: short, logger: false });
    try {
      const res = await one.inject({ method: 'POST', url: '/v2/rerank', payload: { query: Q, documents: docs.slice(0, 3), model: 'rerank-v3.5' } });
      expect(res.statusCode).toBe(200);
    } finally {
      await one.close();
    }
  });

  it('crossrank serve: --rerank name=model and --rerank-config load named rerankers', async () => {
    const cross = requireShared('models/bert-tiny-cross');
    const config = join(mkdtempSync(join(tmpdir(), 'crossrank-rerank-config-')), 'rerankers.json');
    writeFileSync(config, JSON.stringify({ rerankers: { third: cross } }));
    const cli = await startCli(['--rerank', `first=${cross}`, '--rerank', `second=${cross}`, '--rerank-config', config, '--api-key', KEY]);
    try {
      await until(async () => (await fetch(`${cli.url}/health`)).status === 200);
      for (const model of ['first', 'second', 'third']) expect((await postHttp(`${cli.url}/v2/rerank`, { query: Q, documents: docs.slice(0, 2), model })).status).toBe(200);
      const bad = await postHttp(`${cli.url}/v2/rerank`, { query: Q, documents: docs.slice(0, 2), model: 'fourth' });
      expect(bad.status).toBe(404);
      expect(bad.body.models).toEqual(['first', 'second', 'third']);
    } finally {
      cli.child.kill('SIGTERM');
      expect(await cli.exit).toBe(0);
    }
  });
});
