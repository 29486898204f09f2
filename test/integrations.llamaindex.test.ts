// crossrank/llamaindex with the real @llamaindex/core: the node postprocessor gives crossrank's order
// and scores, directly and inside a RetrieverQueryEngine (retrieve and a full query with a mock LLM);
// its signal cancels the scoring.
import { describe, expect, it } from 'vitest';
import { MockLLM } from '@llamaindex/core/llms/mock';
import { RetrieverQueryEngine } from '@llamaindex/core/query-engine';
import { BaseRetriever } from '@llamaindex/core/retriever';
import { getResponseSynthesizer } from '@llamaindex/core/response-synthesizers';
import { MetadataMode, TextNode, type NodeWithScore } from '@llamaindex/core/schema';
import { CrossrankRerank } from '../src/integrations/llamaindex.js';
import { abortWhileScoring, CROSS, useReferences } from './integrations-fixtures.js';
import { errorOf, rejectionOf } from './helpers.js';

/** A fixed in-memory first stage: the same nodes, with made-up first-stage scores, for every query. */
class ListRetriever extends BaseRetriever {
  constructor(private readonly nodes: NodeWithScore[]) {
    super();
  }
  async _retrieve(): Promise<NodeWithScore[]> {
    return this.nodes;
  }
}

/** A query engine over `nodes` with `post` as its postprocessor and a mock LLM (no service is called). */
const engineOver = (nodes: NodeWithScore[], post: CrossrankRerank) =>
  new RetrieverQueryEngine(new ListRetriever(nodes), getResponseSynthesizer('compact', { llm: new MockLLM() }), [post]);

const nodesOf = (texts: string[]) => texts.map((text, i) => ({ node: new TextNode({ text, id_: `n${i}`, metadata: { n: i } }), score: 1 - i / texts.length }));

describe('crossrank/llamaindex', () => {
  const fx = useReferences();

  it('postprocessNodes: crossrank’s order and scores, topN (default 2, as CohereRerank)', async () => {
    const { ref, docs, query } = fx();
    const nodes = nodesOf(docs.slice(0, 30));
    const texts = nodes.map((n) => n.node.getContent(MetadataMode.EMBED));
    const expected = await ref.rerank(query, texts);
    const post = new CrossrankRerank({ model: CROSS(), topN: 6 });
    const got = await post.postprocessNodes(nodes, query);
    expect(got.map((n) => n.node.id_)).toEqual(expected.slice(0, 6).map((r) => `n${r.index}`));
    expect(got.map((n) => n.score)).toEqual(expected.slice(0, 6).map((r) => r.score));
    expect(got[0]!.node).toBe(nodes[expected[0]!.index]!.node);
    expect(new CrossrankRerank({ model: CROSS() }).topN).toBe(2);
    // Message content queries are read as LlamaIndex reads them.
    const detailed = await post.postprocessNodes(nodes, [{ type: 'text', text: query }]);
    expect(detailed.map((n) => n.node.id_)).toEqual(got.map((n) => n.node.id_));
    // The metadata mode decides the text that is scored.
    expect(texts[0]).toContain('n: 0');
    const textOnly = await new CrossrankRerank({ model: CROSS(), topN: 30, metadataMode: 'NONE' }).postprocessNodes(nodes, query);
    const textOnlyExpected = await ref.rerank(query, docs.slice(0, 30));
    expect(textOnly.map((n) => [n.node.id_, n.score])).toEqual(textOnlyExpected.map((r) => [`n${r.index}`, r.score]));
    expect(textOnly.map((n) => n.score)).not.toEqual(expected.map((r) => r.score));
    expect(await post.postprocessNodes([], query)).toEqual([]);
  });

  it('inside a RetrieverQueryEngine: retrieve() and query() see the reranked nodes', async () => {
    const { ref, docs, query } = fx();
    const nodes = nodesOf(docs.slice(100, 125));
    const expected = await ref.rerank(query, nodes.map((n) => n.node.getContent(MetadataMode.EMBED)));
    const engine = engineOver(nodes, new CrossrankRerank({ model: CROSS(), topN: 4 }));
    const retrieved = await engine.retrieve(query);
    expect(retrieved.map((n) => [n.node.id_, n.score])).toEqual(expected.slice(0, 4).map((r) => [`n${r.index}`, r.score]));
    const response = await engine.query({ query });
    expect(response.sourceNodes?.map((n) => n.node.id_)).toEqual(expected.slice(0, 4).map((r) => `n${r.index}`));
  });

  it('a signal (the postprocessor’s or a direct call’s) cancels the scoring', async () => {
    const { pool, docs, query } = fx();
    const nodes = nodesOf(docs.slice(0, 2000));
    const viaEngine = await abortWhileScoring(pool, (signal) => engineOver(nodes, new CrossrankRerank({ model: pool, signal })).retrieve(query));
    expect(viaEngine.error.name).toBe('AbortError');
    expect(viaEngine.scored).toBeGreaterThan(0);
    expect(viaEngine.scored).toBeLessThan(nodes.length / 2);
    const direct = await abortWhileScoring(pool, (signal) => new CrossrankRerank({ model: pool }).postprocessNodes(nodes, query, { signal }));
    expect(direct.error.name).toBe('AbortError');
    expect(direct.scored).toBeLessThan(nodes.length / 2);
  });

  it('bad arguments fail with typed errors', async () => {
    const { query } = fx();
    expect(errorOf(() => new CrossrankRerank({ model: {} as never })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => new CrossrankRerank({ model: CROSS(), metadataMode: 'SOME' as never })).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => new CrossrankRerank({ model: CROSS(), topN: 1.5 })).code).toBe('ERR_OUT_OF_RANGE');
    const post = new CrossrankRerank({ model: CROSS() });
    expect((await rejectionOf(post.postprocessNodes(nodesOf(['a'])))).message).toContain('"query"');
    expect((await rejectionOf(post.postprocessNodes([{ text: 'a' } as never], query))).message).toContain('nodes[0]');
  });
});
