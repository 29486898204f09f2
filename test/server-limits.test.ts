// Every limit of the service, on a real loopback socket: each refused with 413 / 422 naming the
// limit, the value and the maximum, before any work (spies on the reranker, embedder and collection
// stay uncalled; the pairs counter does not move). Malformed JSON is 400, wrong types 422, and a
// 5 000 000-element array is refused without being parsed (heap growth measured beside a parse).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { BiEncoder, Collection, CrossEncoder, createServer, loadBeir } from '../src/index.js';
import { scanJsonShape, shapeRules, DEFAULT_LIMITS } from '../src/server/limits.js';
import { get, KEY, listen, metric, post } from './server-helpers.js';
import { requireShared } from './shared.js';

const Q = 'animal testing should be banned';
const LIMITS = { maxDocuments: 5, maxQueryChars: 100, maxDocumentChars: 5000, maxChunksPerDoc: 4, maxTopN: 3, maxCandidates: 20, maxEmbedInputs: 4, maxJsonValues: 500 };

describe('HTTP server limits', () => {
  let ce: CrossEncoder;
  let bi: BiEncoder;
  let col: Collection;
  let app: FastifyInstance;
  let url: string;
  let docs: string[];
  const spies: MockInstance[] = [];

  beforeAll(async () => {
    docs = loadBeir(requireShared('fixtures/ir/beir-arguana')).docs.slice(0, 40).map((d) => `${d.title} ${d.text}`);
    ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    bi = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
    col = await Collection.create(mkdtempSync(join(tmpdir(), 'crossrank-limits-')), { embedder: bi, factory: 'Flat' });
    await col.add(docs.map((text, i) => ({ id: `d${i}`, text })));
    app = await createServer({ reranker: ce, embedder: bi, collection: col, apiKeys: [KEY], limits: LIMITS, bodyLimit: 256 * 1024, logger: false });
    url = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await col?.close();
  });
  afterEach(() => {
    for (const s of spies.splice(0)) s.mockRestore();
  });

  /** Spy on every kind of model work; returns a check that none of it ran (and no pair was counted). */
  async function noWork(): Promise<() => Promise<void>> {
    const pairs = metric((await get(`${url}/metrics`)).text, 'crossrank_pairs_scored_total');
    const watched = [vi.spyOn(ce, 'rerank'), vi.spyOn(ce, 'scoreDetailed'), vi.spyOn(bi, 'embed'), vi.spyOn(col, 'search')];
    spies.push(...watched);
    return async () => {
      for (const s of watched) expect(s).not.toHaveBeenCalled();
      expect(metric((await get(`${url}/metrics`)).text, 'crossrank_pairs_scored_total')).toBe(pairs);
    };
  }

  const refused = async (path: string, body: unknown, status: number, limit: string, value: number, maximum: number) => {
    const before = metric((await get(`${url}/metrics`)).text, `crossrank_limit_rejections_total{limit="${limit}"}`);
    const res = await post(`${url}${path}`, body);
    expect(res.status, res.text).toBe(status);
    expect(res.body).toMatchObject({ limit, value, maximum, error_type: 'Validation' });
    expect(res.body.error).toContain(String(value));
    expect(res.body.error).toContain(String(maximum));
    expect(res.body.error).toContain(limit);
    expect(metric((await get(`${url}/metrics`)).text, `crossrank_limit_rejections_total{limit="${limit}"}`)).toBe(before + 1);
    return res;
  };

  it('documents per request (TEI texts, Cohere v1 / v2 documents) and /embed inputs: 413 with the count', async () => {
    const none = await noWork();
    const six = docs.slice(0, 6);
    let res = await refused('/rerank', { query: Q, texts: six }, 413, 'max_documents', 6, 5);
    expect(res.body).toMatchObject({ code: 'ERR_TOO_MANY_INPUTS', field: 'texts' });
    expect(res.body.error).toContain('batch size 6 > maximum allowed batch size 5');
    res = await refused('/v1/rerank', { query: Q, documents: six.map((text) => ({ text })) }, 413, 'max_documents', 6, 5);
    expect(res.body.field).toBe('documents');
    await refused('/v2/rerank', { query: Q, documents: six }, 413, 'max_documents', 6, 5);
    await refused('/embed', { inputs: docs.slice(0, 5) }, 413, 'max_embed_inputs', 5, 4);
    await none();
    // At the limit: answered.
    expect((await post(`${url}/rerank`, { query: Q, texts: docs.slice(0, 5) })).status).toBe(200);
    expect((await post(`${url}/embed`, { inputs: docs.slice(0, 4) })).status).toBe(200);
  });

  it('characters per query and per document (code points, as JSON Schema counts them), joined rank_fields included', async () => {
    const none = await noWork();
    const res = await refused('/rerank', { query: '😀'.repeat(101), texts: ['a'] }, 413, 'max_query_chars', 101, 100);
    expect(res.body).toMatchObject({ code: 'ERR_INPUT_TOO_LONG', field: 'query' });
    await refused('/search', { query: 'q'.repeat(150) }, 413, 'max_query_chars', 150, 100);
    const long = 'x'.repeat(5001);
    expect((await refused('/rerank', { query: Q, texts: ['a', long] }, 413, 'max_document_chars', 5001, 5000)).body.field).toBe('texts.1');
    await refused('/v2/rerank', { query: Q, documents: [long] }, 413, 'max_document_chars', 5001, 5000);
    await refused('/embed', { inputs: long }, 413, 'max_document_chars', 5001, 5000);
    await refused('/embed', { inputs: ['a', long] }, 413, 'max_document_chars', 5001, 5000);
    // Two fields of 3000 characters each fit alone; joined by rank_fields (with a newline) they do not.
    const obj = { title: 'y'.repeat(3000), body: 'z'.repeat(3000) };
    const joined = await refused('/v1/rerank', { query: Q, documents: [obj], rank_fields: ['title', 'body'] }, 413, 'max_document_chars', 6001, 5000);
    expect(joined.body.field).toBe('documents.0');
    await none();
  });

  it('parameters over their maximum: max_chunks_per_doc, top_n, top_k, candidates (422)', async () => {
    const none = await noWork();
    const three = docs.slice(0, 3);
    expect((await refused('/v1/rerank', { query: Q, documents: three, max_chunks_per_doc: 5 }, 422, 'max_chunks_per_doc', 5, 4)).body.code).toBe('ERR_LIMIT');
    await refused('/v1/rerank', { query: Q, documents: three, top_n: 4 }, 422, 'max_top_n', 4, 3);
    await refused('/v2/rerank', { query: Q, documents: three, top_n: 4 }, 422, 'max_top_n', 4, 3);
    await refused('/search', { query: Q, top_k: 4 }, 422, 'max_top_n', 4, 3);
    await refused('/search', { query: Q, candidates: 21 }, 422, 'max_candidates', 21, 20);
    await none();
    const ok = await post(`${url}/search`, { query: Q, candidates: 20, top_k: 3 });
    expect(ok.status).toBe(200);
    expect(ok.body.candidates).toBe(20);
  });

  it('JSON values and nesting are counted on the raw body before parsing; over the body limit is 413 too', async () => {
    const none = await noWork();
    const junk = `{"query":"q","texts":["a"],"junk":[${new Array(600).fill(0).join(',')}]}`;
    expect((await refused('/rerank', junk, 413, 'max_json_values', 501, 500)).body.code).toBe('ERR_BODY_TOO_COMPLEX');
    const deep = `{"query":"q","texts":["a"],"x":${'['.repeat(40)}${']'.repeat(40)}}`;
    await refused('/rerank', deep, 413, 'max_json_depth', 33, 32);
    const big = await post(`${url}/rerank`, { query: Q, texts: ['a'.repeat(300 * 1024)] });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: 'ERR_BODY_TOO_LARGE', limit: 'body_limit' });
    await none();
  });

  it('truncate: false finds pairs over the model limit by tokenizing, before scoring (TEI /rerank and /embed)', async () => {
    const none = await noWork();
    const tokenize = vi.spyOn(ce.tokenizer, 'encodeBatch');
    spies.push(tokenize);
    const long = docs.slice(0, 3).map((d) => d.repeat(Math.ceil(4000 / d.length)).slice(0, 4000));
    const res = await post(`${url}/rerank`, { query: Q, texts: ['short text', ...long], truncate: false });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: 'ERR_INPUT_TOO_LONG', indices: [1, 2, 3], limit: 'max_input_length', maximum: ce.maxLength });
    expect(tokenize).toHaveBeenCalled();
    // The longest pair's real length, as the tokenizer counts it.
    const lens = long.map((t) => ce.tokenizer.encode(Q, t, { truncation: false }).ids.length);
    expect(res.body.value).toBe(Math.max(...lens));
    const embLong = 'word '.repeat(bi.maxLength + 10);
    const emb = await post(`${url}/embed`, { inputs: ['short', embLong], truncate: false });
    expect(emb.status).toBe(413);
    expect(emb.body).toMatchObject({ code: 'ERR_INPUT_TOO_LONG', indices: [1], maximum: bi.maxLength, value: bi.tokenizer.encode(embLong, null, { truncation: false }).ids.length });
    for (const [path, body] of [['/rerank', { query: Q, texts: ['a'], truncation_direction: 'Left' }], ['/embed', { inputs: ['a'], truncation_direction: 'left' }]] as const) {
      const left = await post(`${url}${path}`, body);
      expect(left.status).toBe(422);
      expect(left.body).toMatchObject({ code: 'ERR_UNSUPPORTED' });
      expect(left.body.error).toContain('truncation_direction "Left" is not supported');
    }
    await none();
    // Under the limit, truncate: false scores; with truncation the long ones score too.
    expect((await post(`${url}/rerank`, { query: Q, texts: ['short text'], truncate: false })).status).toBe(200);
    expect((await post(`${url}/rerank`, { query: Q, texts: long })).status).toBe(200);
  });

  it('malformed JSON is 400; wrong types, missing or unknown fields 422 (before any work)', async () => {
    const none = await noWork();
    for (const body of ['{"query": "q", "texts": ["a",', '{"query": "q" "texts": []}', 'nope']) {
      const res = await post(`${url}/rerank`, body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'ERR_MALFORMED_JSON', error_type: 'Validation' });
    }
    const empty = await fetch(`${url}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: '' });
    expect(empty.status).toBe(400);
    for (const body of [{ query: Q, texts: [1, 2] }, { texts: ['a'] }, { query: Q, texts: ['a'], extra: 1 }, { query: 7, texts: ['a'] }, { query: Q, texts: 'a' }]) {
      const res = await post(`${url}/rerank`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe('ERR_VALIDATION');
    }
    expect((await post(`${url}/v1/rerank`, { query: Q, documents: [3] })).status).toBe(422);
    expect((await post(`${url}/v1/rerank`, { query: Q, documents: ['a'], top_n: 0 })).status).toBe(422);
    expect((await post(`${url}/v2/rerank`, { query: Q, documents: [{ text: 'a' }] })).status).toBe(422);
    expect((await post(`${url}/rerank`, { query: Q, texts: ['a'] }, KEY, { 'x-request-timeout-ms': 'soon' })).status).toBe(422);
    await none();
  });
});

describe('a 5 000 000-element array', () => {
  let ce: CrossEncoder;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    app = await createServer({ reranker: ce, apiKeys: [KEY], logger: false });  // default limits and 16 MiB body limit
    url = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is counted without being parsed: 413 naming 5 000 000; the heap grows by about the body text, not by what parsing builds', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // 15 MB: under the default 16 MiB body limit, so only the item count stops it.
    const body = `{"query":"q","documents":[${'{},'.repeat(5_000_000 - 1)}{}]}`;
    expect(body.length).toBeLessThan(16 * 1024 * 1024);
    const rerank = vi.spyOn(ce, 'rerank');
    gc();
    const before = process.memoryUsage().heapTotal;
    const res = await post(`${url}/v1/rerank`, body);
    const grown = process.memoryUsage().heapTotal - before;
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ limit: 'max_documents', value: 5_000_000, maximum: 1000 });
    expect(rerank).not.toHaveBeenCalled();
    rerank.mockRestore();

    // What parsing a fifth of that body costs, measured the same way.
    const fifth = `{"query":"q","documents":[${'{},'.repeat(1_000_000 - 1)}{}]}`;
    gc();
    const base = process.memoryUsage().heapTotal;
    const parsed = JSON.parse(fifth) as { documents: unknown[] };
    const parseGrowth = process.memoryUsage().heapTotal - base;
    expect(parsed.documents).toHaveLength(1_000_000);
    console.log(`5M-element body: heap grew ${(grown / 2 ** 20).toFixed(1)} MiB answering it; parsing 1M elements of it grows it ${(parseGrowth / 2 ** 20).toFixed(1)} MiB`);
    // Parsing costs many times the text; answering costs about the text itself (the body string),
    // a small part of what parsing the whole body would (about five times the fifth's growth).
    expect(parseGrowth).toBeGreaterThan(10 * fifth.length);
    expect(grown).toBeLessThan((5 * parseGrowth) / 4);
  }, 60_000);

  it('the byte scan agrees with JSON.parse on counts, skips strings with quotes and escapes, and finds the first violation', () => {
    const rules = shapeRules({ ...DEFAULT_LIMITS, maxDocuments: 3, maxEmbedInputs: 2, maxJsonValues: 50 });
    const scan = (s: string) => scanJsonShape(s, rules);
    expect(scan('{"texts":["a","b","c"]}')).toBeNull();
    expect(scan('{"texts":["a","b","c","d"]}')).toEqual({ limit: 'maxDocuments', field: 'texts', value: 4, maximum: 3 });
    expect(scan('{"texts":[]}')).toBeNull();
    expect(scan('{"inputs":[ "a" , "b" , "c" ]}')).toEqual({ limit: 'maxEmbedInputs', field: 'inputs', value: 3, maximum: 2 });
    // Brackets and commas inside strings (escaped quotes, backslashes) are not structure.
    expect(scan('{"texts":["a,b,c,d", "[\\"x\\",\\"y\\"]", "\\\\", "e\\\\\\"f,g"]}')).toEqual({ limit: 'maxDocuments', field: 'texts', value: 4, maximum: 3 });
    expect(scan('{"texts":["\\\\"],"q":"a,b,c,d,e"}')).toBeNull();
    // Only arrays held by a top-level field count against a field's limit; nested ones count as values.
    expect(scan('{"documents":[{"texts":[1,2,3,4,5]}]}')).toBeNull();
    expect(scan('{"texts": "not an array", "documents": [1,2,3,4]}')).toEqual({ limit: 'maxDocuments', field: 'documents', value: 4, maximum: 3 });
    expect(scan(`[${new Array(60).fill(1).join(',')}]`)).toMatchObject({ limit: 'maxJsonValues', maximum: 50 });
    // Malformed input only has to end the scan: JSON.parse reports it.
    expect(scan('{"texts":["a')).toBeNull();
    expect(scan(']]]}}}')).toBeNull();
  });
});
