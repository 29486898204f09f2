/**
 * Rerank stages in sequence (a cascade): each stage reads the ranking the one before passed on —
 * all of it, or as long a prefix as its latency budget allows — reorders what it read, and passes
 * on its best `topK`. Candidates a budget left unread keep their order after the ones it read, so a
 * cut never loses a document, only its rescoring.
 */
import { CrossrankError, invalidType, validateInteger, validateObject, validateString } from '../errors.js';
import { abortError } from '../inference/scorer.js';
import { MAX_K, raceAbort } from '../retrievers/common.js';
import type { Candidate } from '../retrievers/types.js';
import { LatencyPlanner, type Plan } from './planner.js';

/**
 * A reranker the pipeline can drive: anything with `rerank(query, texts, { signal })` (CrossEncoder,
 * RerankPool, LlmReranker, your own), or a bare scorer with `score(query, texts, { signal })`
 * returning one score per text.
 */
export type StageReranker =
  | { rerank(query: string, texts: string[], options?: { signal?: AbortSignal }): Promise<readonly StageResult[]>; maxLength?: number }
  | { score(query: string, texts: string[], options?: { signal?: AbortSignal }): Promise<ArrayLike<number>>; maxLength?: number };

/** What a stage needs of each result: the input position and its score, best first. */
export interface StageResult {
  index: number;
  score: number;
}

export interface RerankStage {
  reranker: StageReranker;
  /** Names the stage in results (default `rerank<i>`, from 1). */
  name?: string;
  /** Hits this stage passes on, best first. Default: all it was given. */
  topK?: number;
  /**
   * This stage's own latency budget (ms, counted from the stage's start): it reads only as many
   * candidates as the latency planner predicts will fit; the rest keep their order behind them.
   */
  latencyBudgetMs?: number;
}

/** One hit while it moves through the stages. */
export interface Ranked {
  candidate: Candidate;
  firstStageRank: number;
  firstStageScore: number;
  score: number;
  /** The stage that gave `score`: 0 the first stage, i the i-th rerank stage. */
  stage: number;
  reranked: boolean;
}

export interface StageReport {
  name: string;
  /** Candidates the stage was given. */
  candidates: number;
  /** Candidates it read (all, or a planned prefix). */
  reranked: number;
  /** Hits it passed on. */
  kept: number;
  /** Its whole time (calibration and planning included), ms. */
  ms: number;
  /** The reranker call alone, ms. */
  rerankMs: number;
  /** The latency planner's choice, when a budget applied. */
  plan?: Plan;
}

/** A stage as validated, with its planner. */
export interface ResolvedStage {
  name: string;
  topK: number | undefined;
  latencyBudgetMs: number | undefined;
  run: (query: string, texts: string[], signal: AbortSignal | undefined) => Promise<readonly StageResult[]>;
  maxLength: number;
  planner: LatencyPlanner;
}

// A reranker's cost is the reranker's (on this machine), not a pipeline's: one planner per reranker.
const planners = new WeakMap<object, LatencyPlanner>();

function plannerFor(r: object): LatencyPlanner {
  let p = planners.get(r);
  if (!p) {
    p = new LatencyPlanner();
    planners.set(r, p);
  }
  return p;
}

export function validateBudget(value: unknown, name: string): number | undefined {
  if (value !== undefined && !(typeof value === 'number' && value > 0)) throw invalidType(name, 'a positive number', value);
  return value as number | undefined;
}

/** Check one stage (a RerankStage, or a bare reranker) and bind its call. */
export function resolveStage(given: unknown, i: number, name: string): ResolvedStage {
  validateObject(given, name);
  // A RerankStage has a `reranker` object; anything else is taken as the reranker itself.
  const inner = (given as { reranker?: unknown }).reranker;
  const stage = (inner !== null && typeof inner === 'object' ? given : { reranker: given }) as unknown as RerankStage;
  const r = stage.reranker as unknown as Record<string, unknown>;
  let run: ResolvedStage['run'];
  if (typeof r.rerank === 'function') {
    const reranker = stage.reranker as Extract<StageReranker, { rerank: unknown }>;
    run = (query, texts, signal) => reranker.rerank(query, texts, signal ? { signal } : {});
  } else if (typeof r.score === 'function') {
    const scorer = stage.reranker as { score(q: string, t: string[], o?: { signal?: AbortSignal }): Promise<ArrayLike<number>> };
    run = async (query, texts, signal) => {
      const scores = await scorer.score(query, texts, signal ? { signal } : {});
      const order = texts.map((_, j) => j).sort((a, b) => scores[b]! - scores[a]! || a - b);
      return order.map((j) => ({ index: j, score: scores[j]! }));
    };
  } else {
    throw invalidType(`${name}.reranker`, 'a reranker (rerank(query, docs, options)) or a scorer (score(query, docs, options))', stage.reranker);
  }
  if (stage.name !== undefined) validateString(stage.name, `${name}.name`);
  if (stage.topK !== undefined) validateInteger(stage.topK, `${name}.topK`, 1, MAX_K);
  const maxLength = typeof r.maxLength === 'number' && r.maxLength > 0 ? r.maxLength : Infinity;
  return {
    name: stage.name ?? `rerank${i + 1}`,
    topK: stage.topK,
    latencyBudgetMs: validateBudget(stage.latencyBudgetMs, `${name}.latencyBudgetMs`),
    run,
    maxLength,
    planner: plannerFor(stage.reranker),
  };
}

/** The reranker's answer must name each input position exactly once. */
function checkOrder(results: unknown, n: number, stage: string): readonly StageResult[] {
  const ok =
    Array.isArray(results) &&
    results.length === n &&
    (() => {
      const seen = new Uint8Array(n);
      for (const r of results as StageResult[]) {
        if (!r || !Number.isInteger(r.index) || r.index < 0 || r.index >= n || seen[r.index] || typeof r.score !== 'number') return false;
        seen[r.index] = 1;
      }
      return true;
    })();
  if (!ok) throw new CrossrankError('ERR_RERANKER_RESULT', `stage "${stage}": the reranker must return one result (index, score) per document it was given (${n})`);
  return results as StageResult[];
}

export interface StageContext {
  query: string;
  signal: AbortSignal | undefined;
  /** The search's start (performance.now()) and its end-to-end budget, if any. */
  t0: number;
  latencyBudgetMs: number | undefined;
}

/** Run stage `s` (from 1) over `list`; returns what it passes on and its report. */
export async function runStage(stage: ResolvedStage, s: number, list: Ranked[], ctx: StageContext): Promise<{ list: Ranked[]; report: StageReport }> {
  const st0 = performance.now();
  const { query, signal } = ctx;
  if (signal?.aborted) throw abortError(signal);
  const tokens = list.map((h) => Math.min(stage.maxLength, Math.ceil((query.length + h.candidate.text.length) / 4) + 3));
  const sum = (n: number) => tokens.slice(0, n).reduce((a, b) => a + b, 0);
  const texts = list.map((h) => h.candidate.text);
  let n = list.length;
  let plan: Plan | undefined;
  if (n && (stage.latencyBudgetMs !== undefined || ctx.latencyBudgetMs !== undefined)) {
    if (stage.planner.samples === 0) {
      // Calibrate on a few candidates so the first plan rests on a measurement, not a guess.
      const k = Math.min(4, n);
      const c0 = performance.now();
      await raceAbort(stage.run(query, texts.slice(0, k), signal), signal);
      stage.planner.observe(sum(k), performance.now() - c0);
    }
    const now = performance.now();
    // The tighter of the stage's own budget and what is left of the search's.
    const own = stage.latencyBudgetMs === undefined ? null : { budget: stage.latencyBudgetMs, spent: now - st0 };
    const all = ctx.latencyBudgetMs === undefined ? null : { budget: ctx.latencyBudgetMs, spent: now - ctx.t0 };
    const use = own && all ? (own.budget - own.spent <= all.budget - all.spent ? own : all) : (own ?? all)!;
    plan = stage.planner.plan(tokens, use.budget, use.spent);
    n = plan.rerank;
  }
  let rerankMs = 0;
  let head: Ranked[] = [];
  if (n) {
    const r0 = performance.now();
    const results = checkOrder(await raceAbort(stage.run(query, texts.slice(0, n), signal), signal), n, stage.name);
    rerankMs = performance.now() - r0;
    stage.planner.observe(sum(n), rerankMs);
    head = results.map((r) => ({ ...list[r.index]!, score: r.score, stage: s, reranked: true }));
  }
  const out = [...head, ...list.slice(n)].slice(0, stage.topK ?? list.length);
  return {
    list: out,
    report: { name: stage.name, candidates: list.length, reranked: n, kept: out.length, ms: performance.now() - st0, rerankMs, ...(plan ? { plan } : {}) },
  };
}
