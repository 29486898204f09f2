/**
 * Retrieval evaluation of a collection on a test collection (BEIR or Cranfield): the first stage's
 * ranking and, with a reranker, the reranked ranking of the same candidates, scored per query with
 * nDCG@10, MRR@10 and recall (at 10 and at the candidate depth), as BEIR reports them.
 */
import type { Collection, FirstStage, SearchHit } from '../collection/collection.js';
import { validateBoolean, validateInteger, validateObject, validateOneOf } from '../errors.js';
import type { Scorer } from '../inference/scorer.js';
import type { IrCollection } from './datasets.js';
import { mean, mrrAt, ndcgAt, recallAt } from './metrics.js';

export interface EvaluateOptions {
  first?: FirstStage;
  /** First-stage candidates (and the reranker's input). Default 100. */
  candidates?: number;
  /** Rerank the candidates with this cross-encoder or pool. */
  rerank?: Scorer;
  /** Evaluate the first n judged queries only. Default: all. */
  queries?: number;
  /** Drop a hit whose id equals the query's, as BEIR does (ArguAna's queries are documents). Default true. */
  ignoreIdenticalIds?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Each query's hits as searched (first-stage ranks and, reranked, final ranks): for reports. */
  onQuery?: (query: { id: string; hits: readonly SearchHit[] }) => void;
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
  first: FirstStage;
  candidates: number;
  queries: number;
  /** Means over queries. */
  firstStage: Scores;
  reranked?: Scores;
  perQuery: QueryEvaluation[];
  timings: { firstStageMs: number; rerankMs: number };
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
 * Run every judged query (in the dataset's order) through `collection` and score the rankings.
 * One search per query: with a reranker, the first stage's ranking is read back from each hit's
 * `firstStageRank`, so both rankings are of the very same candidates.
 */
export async function evaluate(collection: Collection, data: IrCollection, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  validateObject(options as unknown, 'options');
  const first = options.first ?? 'bm25';
  validateOneOf(first, 'options.first', ['dense', 'bm25', 'hybrid'] as const);
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
    const res = await collection.search(q.text, {
      first,
      candidates: fetch,
      topK: fetch,
      ...(options.rerank ? { rerank: options.rerank } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    options.onQuery?.({ id: q.id, hits: res.hits });
    firstStageMs += res.timings.firstStageMs;
    rerankMs += res.timings.rerankMs;
    const byFirst = [...res.hits].sort((a, b) => a.firstStageRank - b.firstStageRank).map((h) => h.id).filter((id) => keep(id, q.id)).slice(0, candidates);
    const entry: QueryEvaluation = { id: q.id, first: scores(byFirst, rel, candidates) };
    if (options.rerank) {
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
    ...(options.rerank ? { reranked: meanScores(perQuery.map((p) => p.reranked!)) } : {}),
    perQuery,
    timings: { firstStageMs, rerankMs },
  };
}
