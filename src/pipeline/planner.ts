/**
 * Latency planner: how many first-stage candidates can the reranker read within a latency budget?
 * It learns this reranker's cost on this machine online — milliseconds as a linear function of the
 * tokens in a request (fixed overhead + per-token cost), fitted by least squares over recent runs —
 * and picks the longest prefix of the candidate list whose predicted cost fits.
 */

export interface PlannerModel {
  /** Fixed cost per rerank call, ms. */
  overheadMs: number;
  /** Cost per token, ms. */
  msPerToken: number;
  /** Runs the fit is based on. */
  samples: number;
}

export interface Plan {
  /** Candidates to rerank (a prefix of the first-stage ranking). */
  rerank: number;
  candidates: number;
  budgetMs: number;
  /** Time already spent before reranking (first stage). */
  spentMs: number;
  predictedMs: number;
  model: PlannerModel;
}

export class LatencyPlanner {
  readonly #runs: { tokens: number; ms: number }[] = [];
  readonly #window: number;

  constructor(options: { window?: number } = {}) {
    this.#window = options.window ?? 64;
  }

  /** Record one rerank call: how many tokens it read and how long it took. */
  observe(tokens: number, ms: number): void {
    this.#runs.push({ tokens, ms });
    if (this.#runs.length > this.#window) this.#runs.shift();
  }

  get samples(): number {
    return this.#runs.length;
  }

  model(): PlannerModel {
    const n = this.#runs.length;
    if (n === 0) return { overheadMs: 0, msPerToken: 0, samples: 0 };
    const mt = this.#runs.reduce((s, r) => s + r.tokens, 0) / n;
    const mm = this.#runs.reduce((s, r) => s + r.ms, 0) / n;
    let sxy = 0;
    let sxx = 0;
    for (const r of this.#runs) {
      sxy += (r.tokens - mt) * (r.ms - mm);
      sxx += (r.tokens - mt) ** 2;
    }
    // With one distinct size the slope is unknown: attribute all time to tokens (pessimistic).
    let slope = sxx > 0 ? sxy / sxx : mm / Math.max(mt, 1);
    let overhead = mm - slope * mt;
    if (slope <= 0) {
      slope = mm / Math.max(mt, 1);
      overhead = 0;
    }
    return { overheadMs: Math.max(0, overhead), msPerToken: slope, samples: n };
  }

  /**
   * The largest n such that reranking candidates[0..n) is predicted to finish within the budget.
   * `tokens[i]` is the token count of pair i. At least `min` are reranked (default 1).
   */
  plan(tokens: readonly number[], budgetMs: number, spentMs: number, min = 1): Plan {
    const m = this.model();
    const left = budgetMs - spentMs - m.overheadMs;
    let n = 0;
    let cost = 0;
    while (n < tokens.length && cost + tokens[n]! * m.msPerToken <= left) cost += tokens[n++]! * m.msPerToken;
    n = Math.max(Math.min(min, tokens.length), n);
    let predicted = m.overheadMs;
    for (let i = 0; i < n; i++) predicted += tokens[i]! * m.msPerToken;
    return { rerank: n, candidates: tokens.length, budgetMs, spentMs, predictedMs: predicted, model: m };
  }
}
