// crossrank/ai-sdk with the real `ai` package: rerank() and embedMany() over the provider give the
// library's rankings, scores and vectors; models are loaded once and shared; options, headers and
// signals reach the reranker; ai 6 (specification v3) works too.
import { describe, expect, it } from 'vitest';
import { embed, embedMany, rerank } from 'ai';
import { embedMany as embedManyV6, rerank as rerankV6 } from 'ai-v6';
import { NoSuchModelError } from '@ai-sdk/provider';
import { CrossEncoder, RerankPool } from '../src/index.js';
import { closeSharedModels, createCrossrank, crossrank, type RerankCallOptions } from '../src/integrations/ai-sdk.js';
import { abortWhileScoring, BI, CROSS, useReferences } from './integrations-fixtures.js';
import { errorOf, rejectionOf } from './helpers.js';

describe('crossrank/ai-sdk', () => {
  const fx = useReferences();

  it('rerank() from ai returns CrossEncoder.rerank’s ranking and scores, cut to topN', async () => {
    const { ref, docs, query } = fx();
    const documents = docs.slice(0, 60);
    const expected = await ref.rerank(query, documents);
    const res = await rerank({ model: crossrank.rerankingModel(CROSS()), query, documents, topN: 10 });
    expect(res.ranking.map((r) => r.originalIndex)).toEqual(expected.slice(0, 10).map((r) => r.index));
    expect(res.ranking.map((r) => r.score)).toEqual(expected.slice(0, 10).map((r) => r.score));
    expect(res.rerankedDocuments).toEqual(expected.slice(0, 10).map((r) => documents[r.index]));
    const truncated = expected.filter((r) => r.truncated).length;
    expect(truncated).toBeGreaterThan(0);
    expect(res.providerMetadata).toEqual({ crossrank: { documents: 60, truncated } });
    expect(res.response.modelId).toBe(CROSS());
    // Without topN: every document.
    const all = await rerank({ model: crossrank.rerankingModel(CROSS()), query, documents });
    expect(all.ranking.map((r) => r.originalIndex)).toEqual(expected.map((r) => r.index));
  });

  it('a RerankPool or any crossrank-shaped reranker is a reranking model', async () => {
    const { ref, pool, docs, query } = fx();
    const documents = docs.slice(0, 40);
    const expected = await ref.rerank(query, documents);
    const viaPool = await rerank({ model: crossrank.rerankingModel(pool), query, documents, topN: 5 });
    expect(viaPool.ranking.map((r) => [r.originalIndex, r.score])).toEqual(expected.slice(0, 5).map((r) => [r.index, r.score]));

    // A reranker that is not crossrank's own (as the LLM reranker): it gets topK, the signal, the
    // headers and the provider's options; its answer is passed on as it ranked.
    const calls: { query: string; docs: string[]; options?: RerankCallOptions }[] = [];
    const custom = {
      modelId: 'reversed',
      async rerank(q: string, d: string[], options?: RerankCallOptions) {
        calls.push({ query: q, docs: d, options });
        return d.map((_, i) => ({ index: d.length - 1 - i, score: -i })).slice(0, options?.topK);
      },
    };
    const ac = new AbortController();
    const res = await rerank({
      model: crossrank.rerankingModel(custom),
      query,
      documents: ['a', 'b', 'c', 'd'],
      topN: 2,
      abortSignal: ac.signal,
      headers: { 'x-trace': '7' },
      providerOptions: { crossrank: { temperature: 0 }, cohere: { priority: 1 } },
    });
    expect(res.ranking).toEqual([
      { originalIndex: 3, score: -0, document: 'd' },
      { originalIndex: 2, score: -1, document: 'c' },
    ]);
    expect(res.response.modelId).toBe('reversed');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.docs).toEqual(['a', 'b', 'c', 'd']);
    expect(calls[0]!.options).toMatchObject({ topK: 2, headers: { 'x-trace': '7' }, providerOptions: { temperature: 0 } });
    expect(calls[0]!.options!.signal).toBe(ac.signal);

    // Answers that are not a ranking of the documents fail clearly.
    const bad = (answer: unknown) => crossrank.rerankingModel({ rerank: async () => answer as { index: number; score: number }[] });
    for (const answer of [null, [{ index: 4, score: 1 }], [{ index: 0, score: 1 }, { index: 0, score: 0.5 }], [{ index: 1, score: 'high' }]]) {
      const e = await rejectionOf(bad(answer).doRerank({ query, documents: { type: 'text', values: ['a', 'b', 'c', 'd'] } }));
      expect(e.code).toBe('ERR_RERANKER_OUTPUT');
    }
  });

  it('models named by id or directory are loaded once and shared; other options load another', async () => {
    const a = await crossrank.rerankingModel(CROSS()).load();
    const b = await createCrossrank({ name: 'other' }).rerankingModel(CROSS()).load();
    expect(b).toBe(a);
    expect(b).toBeInstanceOf(CrossEncoder);
    const c = await crossrank.rerankingModel(CROSS(), { maxLength: 128 }).load();
    expect(c).not.toBe(a);
    expect((c as CrossEncoder).maxLength).toBe(128);
    const p = await createCrossrank({ reranking: { pool: true, workers: 1 } }).rerankingModel(CROSS()).load();
    expect(p).toBeInstanceOf(RerankPool);
    expect(await crossrank.rerankingModel(CROSS(), { workers: 1, pool: true }).load()).toBe(p);
    expect(await crossrank.embeddingModel(BI()).load()).toBe(await crossrank.textEmbeddingModel(BI()).load());
    // closeSharedModels releases them (pools closed); the next use loads afresh.
    await closeSharedModels();
    expect((await rejectionOf((a as CrossEncoder).score('q', ['x']))).code).toBe('ERR_DISPOSED');
    expect((await rejectionOf((p as RerankPool).score('q', ['x']))).code).toBe('ERR_POOL_CLOSED');
    expect(await crossrank.rerankingModel(CROSS()).load()).not.toBe(a);
  });

  it('object documents: rankFields picks fields; otherwise JSON text with a compatibility warning', async () => {
    const { ref, docs, query } = fx();
    const objects = docs.slice(0, 8).map((text, i) => ({ id: `d${i}`, text }));
    const expected = await ref.rerank(query, objects.map((o) => o.text));
    const res = await rerank({ model: crossrank.rerankingModel(CROSS()), query, documents: objects, topN: 3, providerOptions: { crossrank: { rankFields: ['text'] } } });
    expect(res.ranking.map((r) => r.originalIndex)).toEqual(expected.slice(0, 3).map((r) => r.index));
    expect(res.rerankedDocuments[0]).toBe(objects[expected[0]!.index]);

    const model = crossrank.rerankingModel(CROSS());
    const asJson = await model.doRerank({ query, documents: { type: 'object', values: objects } });
    const jsonExpected = await ref.rerank(query, objects.map((o) => JSON.stringify(o)));
    expect(asJson.ranking.map((r) => r.index)).toEqual(jsonExpected.map((r) => r.index));
    expect(asJson.warnings).toEqual([expect.objectContaining({ type: 'compatibility', feature: 'object documents' })]);
    const missing = await rejectionOf(model.doRerank({ query, documents: { type: 'object', values: [{ title: 'x' }] }, providerOptions: { crossrank: { rankFields: ['text'] } } }));
    expect(missing.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(missing.message).toContain('documents.values[0]');
    // In-process models say which provider options they ignore.
    const warned = await model.doRerank({ query, documents: { type: 'text', values: ['a'] }, headers: { h: '1' }, providerOptions: { crossrank: { temperature: 1 } } });
    expect(warned.warnings).toEqual([{ type: 'unsupported', feature: 'providerOptions.crossrank.temperature' }]);
  });

  it('embedMany() and embed() from ai return BiEncoder.embed’s vectors, with token usage', async () => {
    const { refBi, docs } = fx();
    const values = docs.slice(0, 25);
    const flat = await refBi.embed(values);
    const dim = refBi.dim;
    const res = await embedMany({ model: crossrank.embeddingModel(BI()), values });
    expect(res.embeddings).toEqual(values.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim))));
    const tokens = values.reduce((n, v) => n + refBi.tokenizer.encode(v, null, { maxLength: refBi.maxLength }).ids.length, 0);
    expect(res.usage.tokens).toBe(tokens);
    const one = await embed({ model: crossrank.textEmbeddingModel(BI()), value: values[3]! });
    expect(one.embedding).toEqual(res.embeddings[3]);
    const wrongDim = await rejectionOf(crossrank.embeddingModel(BI()).doEmbed({ values: ['a'], dimensions: dim + 1 }));
    expect(wrongDim.code).toBe('ERR_UNSUPPORTED');
  });

  it('specification v3 works with ai 6', async () => {
    const { ref, refBi, docs, query } = fx();
    const v3 = createCrossrank({ specificationVersion: 'v3' });
    const documents = docs.slice(0, 30);
    const expected = await ref.rerank(query, documents);
    // ai 6 brings its own @ai-sdk/provider 3, whose JSON types differ from provider 4's V3 types
    // (which crossrank's declarations use) in readonly-ness only: cast for the compiler.
    type V6Model<K extends 'rerank' | 'embed'> = Parameters<K extends 'rerank' ? typeof rerankV6 : typeof embedManyV6>[0]['model'];
    const res = await rerankV6({ model: v3.rerankingModel(CROSS()) as unknown as V6Model<'rerank'>, query, documents, topN: 4 });
    expect(res.ranking.map((r) => [r.originalIndex, r.score])).toEqual(expected.slice(0, 4).map((r) => [r.index, r.score]));
    const flat = await refBi.embed(documents.slice(0, 3));
    const emb = await embedManyV6({ model: v3.embeddingModel(BI()) as unknown as V6Model<'embed'>, values: documents.slice(0, 3) });
    expect(emb.embeddings.flat()).toEqual(Array.from(flat));
  });

  it('abortSignal through rerank() stops the scoring: fewer pairs scored than asked', async () => {
    const { pool, docs, query } = fx();
    const documents = docs.slice(0, 2000);
    const { error, scored } = await abortWhileScoring(pool, (signal) => rerank({ model: crossrank.rerankingModel(pool), query, documents, abortSignal: signal }));
    expect(error.name).toBe('AbortError');
    expect(scored).toBeGreaterThan(0);
    expect(scored).toBeLessThan(documents.length / 2);
  });

  it('bad arguments fail with typed errors; there are no language or image models', async () => {
    const { query } = fx();
    expect(errorOf(() => crossrank.rerankingModel(42 as unknown as string)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => crossrank.embeddingModel({} as unknown as string)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => createCrossrank({ specificationVersion: 'v5' as 'v4' })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(NoSuchModelError.isInstance(errorOf(() => crossrank.languageModel('gpt')))).toBe(true);
    expect(NoSuchModelError.isInstance(errorOf(() => crossrank.imageModel('dall-e')))).toBe(true);
    const topN = await rejectionOf(crossrank.rerankingModel(CROSS()).doRerank({ query, documents: { type: 'text', values: ['a'] }, topN: 0 }));
    expect(topN.code).toBe('ERR_OUT_OF_RANGE');
    const chunking = await rejectionOf(crossrank.rerankingModel(CROSS()).doRerank({ query, documents: { type: 'text', values: ['a'] }, providerOptions: { crossrank: { chunking: { stride: -1 } } } }));
    expect(chunking.message).toContain('providerOptions.crossrank.chunking.stride');
  });
});
