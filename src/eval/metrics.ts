/** Ranking metrics as trec_eval / pytrec_eval compute them (linear gains). */

/** nDCG@k of one ranking against graded judgments (id → relevance). */
export function ndcgAt(ranking: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  let dcg = 0;
  ranking.slice(0, k).forEach((id, i) => {
    const rel = qrels.get(id) ?? 0;
    if (rel > 0) dcg += rel / Math.log2(i + 2);
  });
  const ideal = [...qrels.values()].filter((r) => r > 0).sort((a, b) => b - a).slice(0, k);
  let idcg = 0;
  ideal.forEach((rel, i) => (idcg += rel / Math.log2(i + 2)));
  return idcg > 0 ? dcg / idcg : 0;
}

/** Fraction of the relevant documents found in the first k. */
export function recallAt(ranking: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  const relevant = [...qrels].filter(([, r]) => r > 0).map(([id]) => id);
  if (!relevant.length) return 0;
  const top = new Set(ranking.slice(0, k));
  return relevant.filter((id) => top.has(id)).length / relevant.length;
}

/** Mean of a metric over queries. */
export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
}

/** Reciprocal rank of the first relevant document within the first k (0 when there is none). */
export function mrrAt(ranking: readonly string[], qrels: ReadonlyMap<string, number>, k: number): number {
  const i = ranking.slice(0, k).findIndex((id) => (qrels.get(id) ?? 0) > 0);
  return i < 0 ? 0 : 1 / (i + 1);
}
