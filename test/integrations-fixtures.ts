// Fixtures shared by the framework integration tests: ArguAna documents and queries, and a helper
// that aborts a framework call while a RerankPool is scoring it and counts the pairs scored.
import { afterAll, beforeAll, expect } from 'vitest';
import { BiEncoder, CrossEncoder, loadBeir, RerankPool } from '../src/index.js';
import { closeSharedModels } from '../src/integrations/shared.js';
import { rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

export const CROSS = () => requireShared('models/bert-tiny-cross');
export const BI = () => requireShared('models/bert-tiny-bi');

let corpus: { docs: string[]; queries: string[] } | null = null;

/** ArguAna documents (title and text) and query texts, read once per test file. */
export function arguana(): { docs: string[]; queries: string[] } {
  if (!corpus) {
    const c = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    corpus = { docs: c.docs.slice(0, 3000).map((d) => `${d.title} ${d.text}`), queries: c.queries.slice(0, 20).map((q) => q.text) };
  }
  return corpus;
}

/** What every integration test compares against, loaded apart from the adapters' shared models. */
export interface References {
  /** The cross-encoder without a score cache: every comparison scores afresh. */
  ref: CrossEncoder;
  refBi: BiEncoder;
  /** One worker, small tasks: abort tests count its pairs scored. */
  pool: RerankPool;
  docs: string[];
  query: string;
  close(): Promise<void>;
}

export async function loadReferences(): Promise<References> {
  const ref = await CrossEncoder.load(CROSS(), { cache: false });
  const refBi = await BiEncoder.load(BI());
  const pool = await RerankPool.create(CROSS(), { workers: 1, taskPairs: 8, cache: false });
  const { docs, queries } = arguana();
  return {
    ref,
    refBi,
    pool,
    docs,
    query: queries[0]!,
    async close() {
      ref.dispose();
      refBi.dispose();
      await pool.close();
    },
  };
}

/**
 * Load the references before the calling file's tests; release them, and every model the adapters
 * loaded, after. The returned getter gives the loaded references inside tests.
 */
export function useReferences(): () => References {
  let fx: References | undefined;
  beforeAll(async () => {
    fx = await loadReferences();
  });
  afterAll(async () => {
    await fx?.close();
    await closeSharedModels();
  });
  return () => fx!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start `run` with a fresh signal, abort it once `pool` has scored its first task, and wait until the
 * pool is idle. Returns the rejection and how many of the request's pairs were scored in all.
 */
export async function abortWhileScoring(pool: RerankPool, run: (signal: AbortSignal) => Promise<unknown>): Promise<{ error: Error & { code?: string }; scored: number }> {
  const before = pool.stats().pairsScored;
  const ac = new AbortController();
  let settled = false;
  const p = run(ac.signal).finally(() => {
    settled = true;
  });
  for (let i = 0; i < 20_000 && pool.stats().pairsScored === before && !settled; i++) await sleep(1);
  expect(settled).toBe(false);
  ac.abort();
  const error = await rejectionOf(p);
  for (let i = 0; i < 20_000 && (pool.stats().requests > 0 || pool.stats().inFlight > 0); i++) await sleep(1);
  expect(pool.stats()).toMatchObject({ requests: 0, inFlight: 0 });
  return { error, scored: pool.stats().pairsScored - before };
}
