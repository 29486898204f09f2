// Clients people already use, against the service with an API key: Cohere's official SDK (v1 and
// v2 clients), a TEI-shaped client and Jina's request shape. Each gets the library's ranking, and
// the usage figures (Jina's total_tokens, Cohere's billed units and tokens) are the tokenizer's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { CohereClient, CohereClientV2, CohereError } from 'cohere-ai';
import { CrossEncoder, createServer, loadBeir } from '../src/index.js';
import { rejectionOf } from './helpers.js';
import { KEY, listen, OTHER_KEY, post } from './server-helpers.js';
import { requireShared } from './shared.js';

const Q = 'animal testing should be banned';

describe('HTTP server with the clients people use', () => {
  let ce: CrossEncoder;
  let app: FastifyInstance;
  let url: string;
  let texts: string[];

  beforeAll(async () => {
    texts = loadBeir(requireShared('fixtures/ir/beir-arguana')).docs.slice(0, 30).map((d) => `${d.title} ${d.text}`);
    ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    app = await createServer({ reranker: ce, apiKeys: [KEY], logger: false });
    url = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Tokens the model reads for each pair: query + document + [CLS]/[SEP]s, cut to the model's limit. */
  const pairTokens = (docs: string[]) => docs.map((d) => Math.min(ce.maxLength, ce.tokenizer.encode(Q, d, { truncation: false }).ids.length));

  it("Cohere's SDK, v1 client: the library's ranking, top_n, documents back, billed units; a wrong key is the SDK's 401", async () => {
    const cohere = new CohereClient({ token: KEY, baseUrl: url, maxRetries: 0 });
    const res = await cohere.rerank({ model: 'rerank-english-v3.0', query: Q, documents: texts, topN: 5, returnDocuments: true });
    const lib = (await ce.rerank(Q, texts)).slice(0, 5);
    expect(res.results.map((r) => r.index)).toEqual(lib.map((r) => r.index));
    expect(res.results.map((r) => r.relevanceScore)).toEqual(lib.map((r) => r.score));
    expect(res.results[0]!.document?.text).toBe(texts[lib[0]!.index]);
    expect(res.meta?.billedUnits?.searchUnits).toBe(1);
    expect(res.meta?.apiVersion?.version).toBe('1');

    const bad = new CohereClient({ token: OTHER_KEY, baseUrl: url, maxRetries: 0 });
    const e = await rejectionOf(bad.rerank({ query: Q, documents: texts.slice(0, 2) }));
    expect(e).toBeInstanceOf(CohereError);
    expect((e as CohereError).statusCode).toBe(401);
    expect(((e as CohereError).body as { message: string }).message).toBe('invalid API key');
  });

  it("Cohere's SDK, v2 client: the library's ranking; max_tokens_per_doc cuts documents to that many tokens; meta tokens are counted", async () => {
    const cohere = new CohereClientV2({ token: KEY, baseUrl: url, maxRetries: 0 });
    const res = await cohere.rerank({ model: 'rerank-v3.5', query: Q, documents: texts, topN: 10 });
    const lib = (await ce.rerank(Q, texts)).slice(0, 10);
    expect(res.results.map((r) => r.index)).toEqual(lib.map((r) => r.index));
    expect(res.results.map((r) => r.relevanceScore)).toEqual(lib.map((r) => r.score));
    expect(res.meta?.billedUnits?.searchUnits).toBe(1);
    expect(res.meta?.tokens?.inputTokens).toBe(pairTokens(texts).reduce((a, b) => a + b, 0));

    // Each document cut to its first 20 tokens: the scores of the library on those cut texts.
    const cutRes = await cohere.rerank({ model: 'rerank-v3.5', query: Q, documents: texts, maxTokensPerDoc: 20 });
    const cut = texts.map((t) => {
      const enc = ce.tokenizer.encode(t, null, { truncation: false, addSpecialTokens: false });
      return enc.ids.length > 20 ? t.slice(0, enc.offsets[2 * 20 - 1]) : t;
    });
    expect(cut.every((t, i) => t.length < texts[i]!.length)).toBe(true);
    const libCut = await ce.rerank(Q, cut);
    expect(cutRes.results.map((r) => r.index)).toEqual(libCut.map((r) => r.index));
    expect(cutRes.results.map((r) => r.relevanceScore)).toEqual(libCut.map((r) => r.score));
    expect(cutRes.meta?.tokens?.inputTokens).toBe(pairTokens(cut).reduce((a, b) => a + b, 0));
  });

  it('a TEI-shaped client: /rerank with raw_scores and return_text gives the library ranking and logits', async () => {
    // What text-embeddings-inference clients send (huggingface_hub's InferenceClient and the like).
    const tei = async (body: object) => {
      const res = await fetch(`${url}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      return (await res.json()) as { index: number; score: number; text?: string }[];
    };
    const lib = await ce.rerank(Q, texts);
    const out = await tei({ query: Q, texts, raw_scores: true, return_text: true, truncate: true, truncation_direction: 'Right' });
    expect(out.map((r) => r.index)).toEqual(lib.map((r) => r.index));
    expect(out.map((r) => r.score)).toEqual(lib.map((r) => r.logit));
    expect(out.map((r) => r.text)).toEqual(lib.map((r) => texts[r.index]));
  });

  it("Jina's request shape: usage.total_tokens; return_documents gives back the caller's document objects unchanged", async () => {
    const documents = texts.slice(0, 6).map((text, i) => ({ text, id: `doc-${i}`, meta: { tags: ['a', i], nested: { n: i } } }));
    const res = await post(`${url}/v1/rerank`, { model: 'jina-reranker-v2-base-multilingual', query: Q, documents, top_n: 3, return_documents: true });
    expect(res.status).toBe(200);
    const lib = (await ce.rerank(Q, documents)).slice(0, 3);
    expect(res.body.results.map((r: { index: number }) => r.index)).toEqual(lib.map((r) => r.index));
    expect(res.body.results.map((r: { document: unknown }) => r.document)).toEqual(lib.map((r) => documents[r.index]));
    expect(res.body.usage).toEqual({ total_tokens: pairTokens(documents.map((d) => d.text)).reduce((a, b) => a + b, 0) });
    expect(res.body.model).toBe('jina-reranker-v2-base-multilingual');
  });
});
