/** Reciprocal-rank fusion (Cormack et al., 2009) of ranked candidate lists. */

export interface FusedHit<Id> {
  id: Id;
  /** Σ 1 / (k + rank) over the lists that hold the id (rank from 1). */
  score: number;
  /** The id's rank (from 1) in each input list, or null where it is absent. */
  ranks: (number | null)[];
}

/**
 * Fuse lists of ids (each best first). Ties keep the order of first appearance, list by list.
 * `k` damps the weight of top ranks; 60 is the value from the original paper.
 */
export function reciprocalRankFusion<Id>(lists: readonly (readonly Id[])[], options: { k?: number } = {}): FusedHit<Id>[] {
  const k = options.k ?? 60;
  const byId = new Map<Id, FusedHit<Id>>();
  lists.forEach((list, li) => {
    list.forEach((id, r) => {
      let hit = byId.get(id);
      if (!hit) {
        hit = { id, score: 0, ranks: new Array(lists.length).fill(null) };
        byId.set(id, hit);
      }
      if (hit.ranks[li] !== null) return;  // a duplicate inside one list counts once, at its best rank
      hit.ranks[li] = r + 1;
      hit.score += 1 / (k + r + 1);
    });
  });
  const all = [...byId.values()];
  const order = new Map(all.map((h, i) => [h.id, i]));
  return all.sort((a, b) => b.score - a.score || order.get(a.id)! - order.get(b.id)!);
}
