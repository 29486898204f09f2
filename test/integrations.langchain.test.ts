// crossrank/langchain with the real LangChain packages: CrossrankRerank in a
// ContextualCompressionRetriever gives crossrank's order with relevanceScore in metadata;
// CrossrankEmbeddings gives BiEncoder.embed's vectors (and works in MemoryVectorStore);
// CrossrankRetriever wraps Collection.search or any search/retrieve function; signals cancel scoring.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import { BaseRetriever } from '@langchain/core/retrievers';
import { RunnableLambda } from '@langchain/core/runnables';
import { ContextualCompressionRetriever } from '@langchain/classic/retrievers/contextual_compression';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { Collection, CrossEncoder } from '../src/index.js';
import { CrossrankEmbeddings, CrossrankRerank, CrossrankRetriever } from '../src/integrations/langchain.js';
import { abortWhileScoring, BI, CROSS, useReferences } from './integrations-fixtures.js';
import { errorOf, rejectionOf } from './helpers.js';

/** A fixed in-memory first stage: the same documents for every query. */
class ListRetriever extends BaseRetriever {
  lc_namespace = ['test'];
  constructor(private readonly docs: DocumentInterface[]) {
    super();
  }
  async _getRelevantDocuments(): Promise<DocumentInterface[]> {
    return this.docs;
  }
}

describe('crossrank/langchain', () => {
  const fx = useReferences();
  let col: Collection;

  beforeAll(async () => {
    const { docs } = fx();
    col = await Collection.create(mkdtempSync(join(tmpdir(), 'crossrank-lc-')));
    await col.add(docs.map((text, i) => ({ id: `d${i}`, text, metadata: { source: 'arguana', n: i } })));
  });
  afterAll(async () => {
    await col?.close();
  });

  it('CrossrankRerank in a ContextualCompressionRetriever: crossrank’s order, relevanceScore in metadata', async () => {
    const { ref, docs, query } = fx();
    const candidates = docs.slice(0, 30).map((pageContent, i) => new Document({ pageContent, metadata: { n: i }, id: `d${i}` }));
    const expected = await ref.rerank(query, docs.slice(0, 30));
    const retriever = new ContextualCompressionRetriever({ baseCompressor: new CrossrankRerank({ model: CROSS(), topN: 5 }), baseRetriever: new ListRetriever(candidates) });
    const got = await retriever.invoke(query);
    expect(got.map((d) => d.metadata.n)).toEqual(expected.slice(0, 5).map((r) => r.index));
    expect(got.map((d) => d.metadata.relevanceScore)).toEqual(expected.slice(0, 5).map((r) => r.score));
    expect(got.map((d) => d.id)).toEqual(expected.slice(0, 5).map((r) => `d${r.index}`));
    expect(got[0]!.pageContent).toBe(docs[expected[0]!.index]);
    // Copies: the first stage's documents are left as they were.
    expect(candidates.every((d) => !('relevanceScore' in d.metadata))).toBe(true);

    // CohereRerank's defaults and its rerank() method.
    const compressor = new CrossrankRerank({ model: CROSS() });
    expect(compressor.topN).toBe(3);
    expect((await compressor.compressDocuments(candidates, query)).map((d) => d.metadata.n)).toEqual(expected.slice(0, 3).map((r) => r.index));
    expect(await compressor.rerank(docs.slice(0, 30), query, { topN: 4 })).toEqual(expected.slice(0, 4).map((r) => ({ index: r.index, relevanceScore: r.score })));
    expect(await compressor.compressDocuments([], query)).toEqual([]);
  });

  it('maxChunksPerDoc scores long documents window by window, as CohereRerank’s option of that name', async () => {
    const { ref, docs } = fx();
    const texts = docs.slice(0, 10);
    const short = 'animal testing should be banned';
    const expected = await ref.rerank(short, texts, { chunking: { maxChunks: 2 } });
    expect(expected.some((r) => r.chunk!.count > 1)).toBe(true);
    const got = await new CrossrankRerank({ model: CROSS(), topN: 10, maxChunksPerDoc: 2 }).rerank(texts, short);
    expect(got).toEqual(expected.map((r) => ({ index: r.index, relevanceScore: r.score })));
    const plain = await ref.rerank(short, texts);
    expect(got.map((r) => r.relevanceScore)).not.toEqual(plain.map((r) => r.score));
  });

  it('CrossrankEmbeddings gives BiEncoder.embed’s vectors, and serves MemoryVectorStore', async () => {
    const { ref, refBi, docs, query } = fx();
    const texts = docs.slice(0, 40);
    const flat = await refBi.embed(texts);
    const dim = refBi.dim;
    const emb = new CrossrankEmbeddings({ model: BI() });
    expect(await emb.embedDocuments(texts)).toEqual(texts.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim))));
    expect(await emb.embedQuery(texts[7]!)).toEqual(Array.from(flat.subarray(7 * dim, 8 * dim)));

    // Dense first stage in LangChain's own store, crossrank rerank on top.
    const store = await MemoryVectorStore.fromTexts(texts, texts.map((_, n) => ({ n })), emb);
    const first = await store.similaritySearch(query, 15);
    const pipeline = new ContextualCompressionRetriever({ baseCompressor: new CrossrankRerank({ model: CROSS(), topN: 15 }), baseRetriever: store.asRetriever(15) });
    const got = await pipeline.invoke(query);
    const expected = await ref.rerank(query, first.map((d) => d.pageContent));
    expect(got.map((d) => d.metadata.n)).toEqual(expected.map((r) => first[r.index]!.metadata.n));
  });

  it('CrossrankRetriever returns Collection.search’s hits as Documents; any search/retrieve function works', async () => {
    const { query } = fx();
    const reranker = await CrossEncoder.load(CROSS());
    try {
      const searchOptions = { first: 'bm25', candidates: 50, rerank: reranker };
      const expected = await col.search(query, { ...searchOptions, topK: 6 } as Parameters<Collection['search']>[1]);
      const got = await new CrossrankRetriever({ source: col, k: 6, searchOptions }).invoke(query);
      expect(got.map((d) => d.id)).toEqual(expected.hits.map((h) => h.id));
      expect(got.map((d) => d.pageContent)).toEqual(expected.hits.map((h) => h.text));
      expect(got[0]!.metadata).toMatchObject({ source: 'arguana', id: expected.hits[0]!.id, score: expected.hits[0]!.score, rank: 1, firstStageRank: expected.hits[0]!.firstStageRank });
    } finally {
      reranker.dispose();
    }

    const calls: Record<string, unknown>[] = [];
    const source = {
      async retrieve(_q: string, options: Record<string, unknown>) {
        calls.push(options);
        return [{ pageContent: 'alpha', id: 7, score: 0.5 }, { text: 'beta' }];
      },
    };
    const got = await new CrossrankRetriever({ source, k: 2, searchOptions: { candidates: 9 } }).invoke('q');
    expect(got.map((d) => [d.pageContent, d.id, d.metadata.score])).toEqual([['alpha', '7', 0.5], ['beta', undefined, undefined]]);
    expect(calls).toEqual([{ candidates: 9, topK: 2 }]);
    const bad = new CrossrankRetriever({ source: { search: async () => [{ title: 'no text' }] as never } });
    expect((await rejectionOf(bad.invoke('q'))).code).toBe('ERR_RETRIEVER_OUTPUT');
  });

  it('signals cancel the scoring: the retriever’s invoke signal, the run’s signal, the compressor’s own', async () => {
    const { pool, docs, query } = fx();
    const all = docs.slice(0, 2000);
    // CrossrankRetriever.invoke(query, { signal }) over a Collection reranking 2000 candidates.
    const viaRetriever = await abortWhileScoring(pool, (signal) =>
      new CrossrankRetriever({ source: col, k: 10, searchOptions: { first: 'bm25', candidates: 2000, rerank: pool } }).invoke(query, { signal }),
    );
    expect(viaRetriever.error.name).toBe('AbortError');
    expect(viaRetriever.scored).toBeGreaterThan(0);
    expect(viaRetriever.scored).toBeLessThan(all.length / 2);

    // A ContextualCompressionRetriever called from a runnable invoked with a signal.
    const candidates = all.map((pageContent) => new Document({ pageContent }));
    const ccr = new ContextualCompressionRetriever({ baseCompressor: new CrossrankRerank({ model: pool }), baseRetriever: new ListRetriever(candidates) });
    const chain = RunnableLambda.from((q: string) => ccr.invoke(q));
    const viaRun = await abortWhileScoring(pool, (signal) => chain.invoke(query, { signal }));
    expect(viaRun.error.name).toBe('AbortError');
    expect(viaRun.scored).toBeGreaterThan(0);
    expect(viaRun.scored).toBeLessThan(all.length / 2);

    // The compressor's own signal.
    const viaField = await abortWhileScoring(pool, (signal) =>
      new ContextualCompressionRetriever({ baseCompressor: new CrossrankRerank({ model: pool, signal }), baseRetriever: new ListRetriever(candidates) }).invoke(query),
    );
    expect(viaField.error.name).toBe('AbortError');
    expect(viaField.scored).toBeLessThan(all.length / 2);
  });

  it('bad arguments fail with typed errors', async () => {
    const { query } = fx();
    expect(errorOf(() => new CrossrankRerank({ model: 3 as unknown as string })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => new CrossrankRerank({ model: CROSS(), topN: 0 })).code).toBe('ERR_OUT_OF_RANGE');
    expect(errorOf(() => new CrossrankRerank({ model: CROSS(), signal: 'stop' as unknown as AbortSignal })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => new CrossrankEmbeddings({ model: null as unknown as string })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => new CrossrankRetriever({ source: {} as never })).code).toBe('ERR_INVALID_ARG_TYPE');
    const e = await rejectionOf(new CrossrankRerank({ model: CROSS() }).rerank([{ text: 'x' } as never], query));
    expect(e.message).toContain('documents[0]');
  });
});
