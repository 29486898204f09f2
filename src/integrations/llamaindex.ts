/**
 * crossrank/llamaindex: a LlamaIndex.TS node postprocessor (`postprocessNodes(nodes, query)`, the
 * BaseNodePostprocessor shape) that reranks `NodeWithScore[]` with a cross-encoder, for a
 * RetrieverQueryEngine's `nodePostprocessors` or on its own. LlamaIndex passes no abort signal to
 * postprocessors: give one to the constructor, or as the third argument of a direct call.
 */
import type { MessageContent } from '@llamaindex/core/llms';
import type { BaseNodePostprocessor } from '@llamaindex/core/postprocessor';
import type { NodeWithScore } from '@llamaindex/core/schema';
import { invalidType, validateInteger, validateObject, validateOneOf } from '../errors.js';
import { loadPeer } from './peer.js';
import { eitherSignal, rankWith, rerankerFrom, type RerankerLike, type RerankerLoadOptions, type RerankerSource } from './shared.js';

export { closeSharedModels, type RerankerLike, type RerankCallOptions, type RerankerLoadOptions } from './shared.js';

const SUBPATH = 'crossrank/llamaindex';
const [{ MetadataMode }, { extractText }] = await Promise.all([
  loadPeer<typeof import('@llamaindex/core/schema')>('@llamaindex/core/schema', SUBPATH),
  loadPeer<typeof import('@llamaindex/core/utils')>('@llamaindex/core/utils', SUBPATH),
]);

/** Which of a node's metadata goes into the text the cross-encoder reads (LlamaIndex's MetadataMode). */
export type MetadataModeName = 'ALL' | 'EMBED' | 'LLM' | 'NONE';

export interface CrossrankRerankOptions {
  /**
   * A cross-encoder id or directory (loaded on first use and shared), or a loaded reranker: a
   * CrossEncoder, a RerankPool, the LLM reranker or any object with `rerank(query, docs, { topK, signal })`.
   */
  model: RerankerSource;
  /** Loading options when `model` is an id or directory (CrossEncoder.load's; with `pool: true`, RerankPool.create's). */
  modelOptions?: RerankerLoadOptions;
  /** Nodes to keep, best first. Default 2, as LlamaIndex's CohereRerank. */
  topN?: number;
  /** The node text that is scored: `node.getContent(metadataMode)`. Default 'EMBED' (what an embedding model reads). */
  metadataMode?: MetadataModeName;
  /** Cancels every call of this postprocessor. */
  signal?: AbortSignal;
}

/**
 * Reranks retrieved nodes with a cross-encoder: returns the `topN` best, best first, each with
 * `score` set to the reranker's score (the node objects themselves are reused).
 */
export class CrossrankRerank implements BaseNodePostprocessor {
  readonly topN: number;
  readonly metadataMode: MetadataModeName;
  readonly #get: () => Promise<RerankerLike>;
  readonly #signal: AbortSignal | undefined;

  constructor(options: CrossrankRerankOptions) {
    validateObject(options as unknown, 'options');
    this.#get = rerankerFrom(options.model, options.modelOptions, 'options.model');
    this.topN = options.topN ?? 2;
    validateInteger(this.topN, 'options.topN', 1);
    this.metadataMode = options.metadataMode ?? 'EMBED';
    validateOneOf(this.metadataMode, 'options.metadataMode', ['ALL', 'EMBED', 'LLM', 'NONE'] as const);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidType('options.signal', 'an AbortSignal', options.signal);
    this.#signal = options.signal;
  }

  /** Load (once) and return the reranker. */
  load(): Promise<RerankerLike> {
    return this.#get();
  }

  async postprocessNodes(nodes: NodeWithScore[], query?: MessageContent, options: { signal?: AbortSignal } = {}): Promise<NodeWithScore[]> {
    if (!Array.isArray(nodes)) throw invalidType('nodes', 'an array of NodeWithScore', nodes);
    if (query === undefined || query === null) throw invalidType('query', 'a string or message content (a reranker needs the query)', query);
    validateObject(options as unknown, 'options');
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidType('options.signal', 'an AbortSignal', options.signal);
    if (nodes.length === 0) return [];
    const mode = MetadataMode[this.metadataMode];
    const texts = nodes.map((n, i) => {
      const node = (n as { node?: { getContent?: unknown } } | null)?.node;
      if (typeof node?.getContent !== 'function') throw invalidType(`nodes[${i}]`, 'a NodeWithScore ({ node, score })', n);
      return n.node.getContent(mode);
    });
    const signal = eitherSignal(options.signal, this.#signal);
    const { ranking } = await rankWith(await this.#get(), extractText(query), texts, { topK: this.topN, ...(signal ? { signal } : {}) });
    return ranking.map((r) => ({ node: nodes[r.index]!.node, score: r.score }));
  }
}
