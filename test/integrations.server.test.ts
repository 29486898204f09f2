// The HTTP server as a hosted reranker for the Cohere clients RAG apps already use: @ai-sdk/cohere,
// and LangChain's CohereRerank over cohere-ai's CohereClient. Each client's request is recorded
// (against a stand-in answering as Cohere does) and replayed to a listening createServer(); the
// server must rank it as the library does; then each client is pointed at the server itself (with
// an API key) and must get the library's ranking unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { rerank } from 'ai';
import { createCohere } from '@ai-sdk/cohere';
import { CohereRerank } from '@langchain/cohere';
import { Document } from '@langchain/core/documents';
import { CohereClient } from 'cohere-ai';
import { createServer } from '../src/index.js';
import { abortWhileScoring, useReferences } from './integrations-fixtures.js';
import { rejectionOf } from './helpers.js';

const KEY = 'test-key-0123456789';
const MODEL = 'bert-tiny-cross';

interface Recorded {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** Run `call` against a stand-in that answers as Cohere does (with `meta`); return the one request it made. */
async function recordRequest(call: (baseUrl: string) => Promise<unknown>): Promise<Recorded> {
  const seen: Recorded[] = [];
  const standIn = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { documents: unknown[] };
      seen.push({ path: req.url ?? '', headers: req.headers, body: parsed });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'r', results: parsed.documents.map((_, index) => ({ index, relevance_score: 1 / (index + 1) })), meta: { api_version: { version: '2' }, billed_units: { search_units: 1 } } }));
    });
  });
  await new Promise<void>((r) => standIn.listen(0, '127.0.0.1', r));
  try {
    await call(`http://127.0.0.1:${(standIn.address() as AddressInfo).port}`);
  } finally {
    standIn.closeAllConnections();
    await new Promise((r) => standIn.close(r));
  }
  expect(seen).toHaveLength(1);
  return seen[0]!;
}

describe('the server as a hosted reranker for Cohere clients', () => {
  const fx = useReferences();
  let app: FastifyInstance;
  let url: string;
  const replay = (path: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });

  beforeAll(async () => {
    // The pool scores as the in-process CrossEncoder does (test/pool.test.ts) and counts pairs for the abort test.
    app = await createServer({ reranker: fx().pool, modelId: MODEL, maxClientBatchSize: 2000, logger: false, apiKeys: [KEY] });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    // After the aborted request below the server still counts one busy connection, and app.close()
    // waits for it (measured: 4 s with that test alone, 70 s after the others): close it instead.
    app?.server.closeAllConnections();
    await app?.close();
  });

  it('@ai-sdk/cohere: the server ranks the request the client sends as the library does', async () => {
    const { ref, docs, query } = fx();
    const documents = docs.slice(0, 50);
    const expected = await ref.rerank(query, documents);
    // The client posts to <baseURL>/rerank; its default baseURL is Cohere's v2 root.
    const sent = await recordRequest((base) => rerank({ model: createCohere({ baseURL: `${base}/v2`, apiKey: KEY }).rerankingModel(MODEL), query, documents, topN: 7 }));
    expect(sent.path).toBe('/v2/rerank');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({ model: MODEL, query, documents, top_n: 7 });
    const res = await replay('/v1/rerank', sent.body);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { results: { index: number; relevance_score: number }[] };
    expect(answer.results.map((r) => [r.index, r.relevance_score])).toEqual(expected.slice(0, 7).map((r) => [r.index, r.score]));

    // The client itself against the server (with its key): the library's ranking and scores.
    const got = await rerank({ model: createCohere({ baseURL: `${url}/v2`, apiKey: KEY }).rerankingModel(MODEL), query, documents, topN: 7, maxRetries: 0 });
    expect(got.ranking.map((r) => [r.originalIndex, r.score])).toEqual(expected.slice(0, 7).map((r) => [r.index, r.score]));
    // Without the key the server refuses it.
    const refused = await rejectionOf(rerank({ model: createCohere({ baseURL: `${url}/v2`, apiKey: 'wrong' }).rerankingModel(MODEL), query, documents, topN: 7, maxRetries: 0 }));
    expect((refused as Error & { statusCode?: number }).statusCode).toBe(401);
  });

  it('LangChain’s CohereRerank (cohere-ai client with the server as environment): the server ranks its request as the library does', async () => {
    const { ref, docs, query } = fx();
    const texts = docs.slice(200, 240);
    const expected = await ref.rerank(query, texts);
    const compressorAt = (environment: string) => new CohereRerank({ client: new CohereClient({ token: KEY, environment }), model: MODEL, topN: 5 });
    const pages = texts.map((pageContent, n) => new Document({ pageContent, metadata: { n } }));
    const sent = await recordRequest((base) => compressorAt(base).compressDocuments(pages, query));
    expect(sent.path).toBe('/v1/rerank');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({ model: MODEL, query, documents: texts, top_n: 5, max_chunks_per_doc: null });

    // The compressor itself against the server: cohere-ai's null for an unset option is read as
    // "not set", as Cohere does; the library's order and scores come back.
    const out = await compressorAt(url).compressDocuments(pages, query);
    expect(out.map((d) => [d.metadata.n, d.metadata.relevanceScore])).toEqual(expected.slice(0, 5).map((r) => [r.index, r.score]));
  });

  it('aborting @ai-sdk/cohere’s rerank() hangs up, and the server stops scoring', async () => {
    const { pool, docs, query } = fx();
    const documents = docs.slice(0, 2000);
    const cohere = createCohere({ baseURL: `${url}/v1`, apiKey: KEY });
    const { error, scored } = await abortWhileScoring(pool, (signal) =>
      rerank({ model: cohere.rerankingModel(MODEL), query, documents, abortSignal: signal, maxRetries: 0 }),
    );
    expect(error.name).toBe('AbortError');
    expect(scored).toBeGreaterThan(0);
    expect(scored).toBeLessThan(documents.length / 2);
  });
});
