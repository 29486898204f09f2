/**
 * The two-stage (or n-stage) search over any first stage: a Retriever returns candidates, one or
 * more rerank stages reorder them (cascade.ts), and the best `topK` come back, each with its
 * first-stage rank and score (movement is one subtraction), the stage that scored it, and the
 * time each stage took. The result has the same shape whatever the retriever.
 */
import { invalidType, validateBoolean, validateInteger, validateObject, validateString } from '../errors.js';
import { abortError } from '../inference/scorer.js';
import { badResult, checkCandidates, MAX_K, raceAbort, validateSignal } from '../retrievers/common.js';
import type { Candidate, Retriever } from '../retrievers/types.js';
import { resolveStage, runStage, validateBudget, type Ranked, type RerankStage, type ResolvedStage, type StageReranker, type StageReport } from './cascade.js';
import type { Plan } from './planner.js';

export type { RerankStage, StageReranker, StageReport };

export interface PipelineOptions {
  /** The first stage. */
  retriever: Retriever;
  /** Rerank stages, in order (a reranker alone is a stage that reads everything it is given). */
  stages?: readonly (RerankStage | StageReranker)[];
  /** Shorthand for one stage: `stages: [rerank]`. */
  rerank?: RerankStage | StageReranker;
  /** First-stage candidates. Default 100. */
  candidates?: number;
  /** Hits returned. Default 10. */
  topK?: number;
  /** End-to-end budget (ms): each stage reads only as many candidates as are predicted to fit. */
  latencyBudgetMs?: number;
  /** Names the first stage in results. Default 'first'. */
  name?: string;
}

export interface PipelineSearchOptions {
  /** Overrides the pipeline's `candidates`. */
  candidates?: number;
  /** Overrides the pipeline's `topK`. */
  topK?: number;
  /** Overrides the pipeline's `latencyBudgetMs`. */
  latencyBudgetMs?: number;
  signal?: AbortSignal;
  /** Also return the first stage's whole ranking (`firstStage`), including what later stages cut. Default false. */
  returnFirstStage?: boolean;
}

export interface PipelineHit extends Candidate {
  /** Final rank (1 = best) and score: the last stage's that read this hit. */
  rank: number;
  score: number;
  /** Rank (from 1) and score in the first stage; "moved up" is firstStageRank - rank. */
  firstStageRank: number;
  firstStageScore: number;
  /** Whether a rerank stage read this hit (false beyond a latency plan's cut). */
  reranked: boolean;
  /** The stage whose score `score` is: 0 the first stage, i the i-th rerank stage (`stages[i]`). */
  stage: number;
}

export interface PipelineResult {
  hits: PipelineHit[];
  /** Candidates the first stage returned. */
  candidates: number;
  /** Per stage, first stage at 0: what it was given, read and passed on, and its time. */
  stages: StageReport[];
  /** firstStageMs + the stages' times ≤ totalMs; rerankMs sums the reranker calls alone. */
  timings: { firstStageMs: number; rerankMs: number; totalMs: number };
  /** The last latency plan made (a single-stage pipeline's plan), when a budget applied. */
  plan?: Plan;
  /** With `returnFirstStage`: the first stage's candidates, best first. */
  firstStage?: Candidate[];
}

function resolveStages(options: PipelineOptions): ResolvedStage[] {
  if (options.stages !== undefined && options.rerank !== undefined) throw invalidType('options.rerank', 'unset when options.stages is given', options.rerank);
  if (options.stages !== undefined && !Array.isArray(options.stages)) throw invalidType('options.stages', 'an array of rerank stages', options.stages);
  const given = options.stages ?? (options.rerank !== undefined ? [options.rerank] : []);
  return given.map((s, i) => resolveStage(s, i, options.stages ? `options.stages[${i}]` : 'options.rerank'));
}

export class Pipeline {
  readonly retriever: Retriever;
  readonly #stages: ResolvedStage[];
  readonly #candidates: number;
  readonly #topK: number;
  readonly #budget: number | undefined;
  readonly #name: string;

  constructor(options: PipelineOptions) {
    validateObject(options as unknown, 'options');
    const r = options.retriever as unknown;
    if (r === null || typeof r !== 'object' || typeof (r as Retriever).retrieve !== 'function') throw invalidType('options.retriever', 'a Retriever (an object with retrieve(query, { k, signal }))', r);
    this.retriever = options.retriever;
    this.#stages = resolveStages(options);
    this.#candidates = options.candidates ?? 100;
    validateInteger(this.#candidates, 'options.candidates', 1, MAX_K);
    this.#topK = options.topK ?? 10;
    validateInteger(this.#topK, 'options.topK', 1, MAX_K);
    this.#budget = validateBudget(options.latencyBudgetMs, 'options.latencyBudgetMs');
    this.#name = options.name ?? 'first';
    validateString(this.#name, 'options.name');
  }

  /** Rerank stages. */
  get stageCount(): number {
    return this.#stages.length;
  }

  /** Names of the stages, first stage at 0. */
  get stageNames(): string[] {
    return [this.#name, ...this.#stages.map((s) => s.name)];
  }

  async search(query: string, options: PipelineSearchOptions = {}): Promise<PipelineResult> {
    validateString(query, 'query');
    validateObject(options as unknown, 'options');
    const candidates = options.candidates ?? this.#candidates;
    validateInteger(candidates, 'options.candidates', 1, MAX_K);
    const topK = options.topK ?? this.#topK;
    validateInteger(topK, 'options.topK', 1, MAX_K);
    const budget = options.latencyBudgetMs === undefined ? this.#budget : validateBudget(options.latencyBudgetMs, 'options.latencyBudgetMs');
    const { signal } = options;
    const returnFirstStage = options.returnFirstStage ?? false;
    validateBoolean(returnFirstStage, 'options.returnFirstStage');
    validateSignal(signal, 'options.signal');
    if (signal?.aborted) throw abortError(signal);

    const t0 = performance.now();
    const got: unknown = await raceAbort(this.retriever.retrieve(query, { k: candidates, ...(signal ? { signal } : {}) }), signal);
    if (!Array.isArray(got)) throw badResult('the retriever', 'an array of candidates', got);
    if (got.length > candidates) throw badResult('the retriever', `at most k = ${candidates} candidates`, got);
    const cands = checkCandidates(got, 'retriever');
    const t1 = performance.now();
    let list: Ranked[] = cands.map((c, i) => ({ candidate: c, firstStageRank: i + 1, firstStageScore: c.score, score: c.score, stage: 0, reranked: false }));
    const stages: StageReport[] = [{ name: this.#name, candidates: cands.length, reranked: 0, kept: cands.length, ms: t1 - t0, rerankMs: 0 }];
    let plan: Plan | undefined;
    let rerankMs = 0;
    for (const [i, stage] of this.#stages.entries()) {
      const r = await runStage(stage, i + 1, list, { query, signal, t0, latencyBudgetMs: budget });
      list = r.list;
      stages.push(r.report);
      rerankMs += r.report.rerankMs;
      plan = r.report.plan ?? plan;
    }
    const hits = list.slice(0, topK).map((h, i): PipelineHit => ({ ...h.candidate, rank: i + 1, score: h.score, firstStageRank: h.firstStageRank, firstStageScore: h.firstStageScore, reranked: h.reranked, stage: h.stage }));
    return { hits, candidates: cands.length, stages, timings: { firstStageMs: t1 - t0, rerankMs, totalMs: performance.now() - t0 }, ...(plan ? { plan } : {}), ...(returnFirstStage ? { firstStage: cands } : {}) };
  }
}
