/**
 * Retrieval evaluation on a test collection (BEIR or Cranfield) of any first stage — a Collection,
 * any Retriever, or a whole Pipeline: the first stage's ranking and, with rerank stages, the final
 * ranking of the same candidates, scored per query with nDCG@10, MRR@10 and recall (at 10 and at
 * the candidate depth), as BEIR reports them.
 */
import type { Collection, FirstStage } from '../collection/collection.js';
import { CrossrankError, invalidType, validateBoolean, validateInteger, validateObject, validateOneOf } from '../errors.js';
import { Pipeline, type PipelineHit, type RerankStage, type StageReranker } from '../pipeline/pipeline.js';
import { CollectionRetriever } from '../retrievers/collection.js';
import type { Retriever } from '../retrievers/types.js';
import type { IrCollection } from './datasets.js';
import { mean, mrrAt, ndcgAt, recallAt } from './metrics.js';

export interface EvaluateOptions {
  /** A Collection's first stage. Default 'bm25'. */
  first?: FirstStage;
  /** First-stage candidates (and the reranker's input). Default 100. */
  candidates?: number;
  /** A Collection or Retriever: rerank the candidates with this reranker (cross-encoder, pool, LLM) or stage. A Pipeline brings its own stages. */
  rerank?: RerankStage | StageReranker;
  /** Evaluate the first n judged queries only. Default: all. */
  queries?: number;
  /** Drop a hit whose id equals the query's, as BEIR does (ArguAna's queries are documents). Default true. */
  ignoreIdenticalIds?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Each query's first-stage ranking (ids) and final hits, as searched: for reports. */
  onQuery?: (query: { id: string; firstStage: readonly string[]; hits: readonly PipelineHit[] }) => void;
  signal?: AbortSignal;
}

export interface Scores {
  ndcg10: number;
  mrr10: number;
  recall10: number;
  /** Recall at the candidate depth (what a reranker can reach at best). */
  recallAtCandidates: number;
}

export interface QueryEvaluation {
  id: string;
  first: Scores;
  reranked?: Scores;
}

export interface EvaluationReport {
  /** The first stage: a Collection's mode, else the retriever's `name` or `mode`, else 'retriever'. */
  first: string;
  candidates: number;
  queries: number;
  /** Means over queries. */
  firstStage: Scores;
  reranked?: Scores;
  perQuery: QueryEvaluation[];
  timings: { firstStageMs: number; rerankMs: number };
}

/** What evaluate() runs: a Collection, any Retriever, or a Pipeline. */
export type EvaluationTarget = Collection | Retriever | Pipeline;

function isCollection(t: unknown): t is Collection {
  return typeof (t as Collection).snapshot === 'function' && typeof (t as Collection).search === 'function';
}

/** The pipeline to run and the name of its first stage. */
function toPipeline(target: EvaluationTarget, options: EvaluateOptions): { pipeline: Pipeline; first: string } {
  if (target instanceof Pipeline) {
    if (options.rerank !== undefined) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'options.rerank: a Pipeline brings its own rerank stages');
    if (options.first !== undefined) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'options.first: a Pipeline brings its own first stage');
    return { pipeline: target, first: nameOf(target.retriever) };
  }
  const rerank = options.rerank !== undefined ? { rerank: options.rerank } : {};
  if (isCollection(target)) {
    const first = options.first ?? 'bm25';
    validateOneOf(first, 'options.first', ['dense', 'bm25', 'hybrid'] as const);
    return { pipeline: new Pipeline({ retriever: new CollectionRetriever(target, { first }), ...rerank }), first };
  }
  if (target === null || typeof target !== 'object' || typeof (target as Retriever).retrieve !== 'function') {
    throw invalidType('target', 'a Collection, a Retriever or a Pipeline', target);
  }
  if (options.first !== undefined) throw new CrossrankError('ERR_INVALID_ARG_VALUE', "options.first: only a Collection's first stage can be chosen here");
  return { pipeline: new Pipeline({ retriever: target, ...rerank }), first: nameOf(target) };
}

function nameOf(r: Retriever): string {
  const o = r as { first?: unknown; name?: unknown; mode?: unknown };
  for (const v of [o.first, o.name, o.mode]) if (typeof v === 'string' && v) return v;
  return 'retriever';
}

function scores(ranking: string[], qrels: ReadonlyMap<string, number>, depth: number): Scores {
  return { ndcg10: ndcgAt(ranking, qrels, 10), mrr10: mrrAt(ranking, qrels, 10), recall10: recallAt(ranking, qrels, 10), recallAtCandidates: recallAt(ranking, qrels, depth) };
}

function meanScores(all: Scores[]): Scores {
  return {
    ndcg10: mean(all.map((s) => s.ndcg10)),
    mrr10: mean(all.map((s) => s.mrr10)),
    recall10: mean(all.map((s) => s.recall10)),
    recallAtCandidates: mean(all.map((s) => s.recallAtCandidates)),
  };
}

/**
 * Run every judged query (in the dataset's order) through `target` and score the rankings.
 * One search per query: with rerank stages, the first stage's ranking is read back from each hit's
 * `firstStageRank`, so both rankings are of the very same candidates.
 */
export async function evaluate(target: EvaluationTarget, data: IrCollection, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  validateObject(options as unknown, 'options');
  const { pipeline, first } = toPipeline(target, options);
  const reranks = pipeline.stageCount > 0;
  const candidates = options.candidates ?? 100;
  validateInteger(candidates, 'options.candidates', 1, 100_000);
  const ignoreIdentical = options.ignoreIdenticalIds ?? true;
  validateBoolean(ignoreIdentical, 'options.ignoreIdenticalIds');
  const judged = data.queries.filter((q) => data.qrels.has(q.id));
  if (options.queries !== undefined) validateInteger(options.queries, 'options.queries', 1);
  const queries = judged.slice(0, options.queries ?? judged.length);
  // One extra candidate, so dropping the query's own id still leaves `candidates`.
  const fetch = candidates + (ignoreIdentical ? 1 : 0);
  const keep = (id: string, q: string) => !ignoreIdentical || id !== q;

  const perQuery: QueryEvaluation[] = [];
  let firstStageMs = 0;
  let rerankMs = 0;
  for (const [i, q] of queries.entries()) {
    const rel = data.qrels.get(q.id)!;
    const res = await pipeline.search(q.text, { candidates: fetch, topK: fetch, returnFirstStage: true, ...(options.signal ? { signal: options.signal } : {}) });
    options.onQuery?.({ id: q.id, firstStage: res.firstStage!.map((h) => h.id), hits: res.hits });
    firstStageMs += res.timings.firstStageMs;
    rerankMs += res.timings.rerankMs;
    const byFirst = res.firstStage!.map((h) => h.id).filter((id) => keep(id, q.id)).slice(0, candidates);
    const entry: QueryEvaluation = { id: q.id, first: scores(byFirst, rel, candidates) };
    if (reranks) {
      const byRerank = res.hits.map((h) => h.id).filter((id) => keep(id, q.id)).slice(0, candidates);
      entry.reranked = scores(byRerank, rel, candidates);
    }
    perQuery.push(entry);
    options.onProgress?.(i + 1, queries.length);
  }
  return {
    first,
    candidates,
    queries: queries.length,
    firstStage: meanScores(perQuery.map((p) => p.first)),
    ...(reranks ? { reranked: meanScores(perQuery.map((p) => p.reranked!)) } : {}),
    perQuery,
    timings: { firstStageMs, rerankMs },
  };
}
