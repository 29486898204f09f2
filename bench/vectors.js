// Deterministic synthetic embeddings for the index benchmarks: Gaussian clusters on the unit
// sphere, like sentence embeddings (which cluster by topic). Same seed, same vectors.

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/**
 * `n` vectors of `dim` floats around `clusters` centres, L2-normalised. With `subclusters` > 0 each
 * cluster has that many sub-centres (topics within a topic), so near neighbours are meaningfully
 * nearer than the rest of their cluster, as with real embeddings.
 */
export function clustered(n, dim, clusters, seed, spread = 0.35, subclusters = 0) {
  const rand = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centresRand = rng(0x9e3779b9);  // the centres depend on `clusters` only, not on `seed`
  const cg = () => Math.sqrt(-2 * Math.log(centresRand() + 1e-12)) * Math.cos(2 * Math.PI * centresRand());
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = cg();
  const subs = new Float32Array(clusters * subclusters * dim);
  for (let i = 0; i < subs.length; i++) subs[i] = 0.5 * cg();
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(rand() * clusters);
    const c = k * dim;
    const sc = subclusters ? (k * subclusters + Math.floor(rand() * subclusters)) * dim : -1;
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      const x = centres[c + d] + (sc >= 0 ? subs[sc + d] : 0) + spread * gauss();
      out[i * dim + d] = x;
      norm += x * x;
    }
    norm = 1 / Math.sqrt(norm);
    for (let d = 0; d < dim; d++) out[i * dim + d] *= norm;
  }
  return out;
}
