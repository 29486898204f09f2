/**
 * Latency planner: how many first-stage candidates can the reranker read within a latency budget?
 * It learns this reranker's cost on this machine online — milliseconds as a linear function of the
 * tokens in a request (fixed overhead + per-token cost), fitted by least squares over recent runs —
 * and picks the longest prefix of the candidate list whose predicted cost fits. Predictions are
 * padded by a safety margin, the 90th percentile of how far recent runs overran the fit, so that
 * most searches (not half of them) finish within the budget.
 */

export interface PlannerModel {
  /** Fixed cost per rerank call, ms. */
  overheadMs: number;
  /** Cost per token, ms. */
  msPerToken: number;
  /** Runs the fit is based on. */
  samples: number;
  /** Factor applied to predictions: 90th percentile of measured / fitted over recent runs (≥ 1). */
  margin: number;
}

export interface Plan {
  /** Candidates to rerank (a prefix of the first-stage ranking). */
  rerank: number;
  candidates: number;
  budgetMs: number;
  /** Time already spent before reranking (first stage). */
  spentMs: number;
  /** Predicted rerank time of the chosen candidates, margin included. */
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
    if (n === 0) return { overheadMs: 0, msPerToken: 0, samples: 0, margin: 1 };
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
    overhead = Math.max(0, overhead);
    // With few runs the spread is unknown: no margin until there are enough to estimate it.
    let margin = 1;
    if (n >= 5) {
      const ratios = this.#runs.map((r) => r.ms / Math.max(1e-9, overhead + slope * r.tokens)).sort((a, b) => a - b);
      margin = Math.min(2, Math.max(1, ratios[Math.min(n - 1, Math.floor(0.9 * n))]!));
    }
    return { overheadMs: overhead, msPerToken: slope, samples: n, margin };
  }

  /**
   * The largest n such that reranking candidates[0..n) is predicted to finish within the budget.
   * `tokens[i]` is the token count of pair i. At least `min` are reranked (default 1).
   */
  plan(tokens: readonly number[], budgetMs: number, spentMs: number, min = 1): Plan {
    const m = this.model();
    const left = (budgetMs - spentMs) / m.margin - m.overheadMs;
    let n = 0;
    let cost = 0;
    while (n < tokens.length && cost + tokens[n]! * m.msPerToken <= left) cost += tokens[n++]! * m.msPerToken;
    n = Math.max(Math.min(min, tokens.length), n);
    let predicted = m.overheadMs;
    for (let i = 0; i < n; i++) predicted += tokens[i]! * m.msPerToken;
    predicted *= m.margin;
    return { rerank: n, candidates: tokens.length, budgetMs, spentMs, predictedMs: predicted, model: m };
  }
}
