// pgvector retriever against a real Postgres engine: PGlite (Postgres 17 in WebAssembly, with the
// vector extension) served over the wire protocol by pglite-socket and reached through `pg` exactly
// as a server would be. Dense search is compared with FAISS Flat on the same vectors, full-text and
// hybrid search with our BM25 and reciprocalRankFusion on ArguAna.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import {
  BatchError,
  BiEncoder,
  Bm25Index,
  createPgvectorIndex,
  FaissIndex,
  loadBeir,
  PgvectorRetriever,
  reciprocalRankFusion,
  upsertPgvector,
  type Candidate,
  type IrCollection,
  type PgPool,
} from '../src/index.js';
import { errorOf, rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

let db: PGlite;
let server: PGLiteSocketServer;
let pool: pg.Pool;
let url: string;
let data: IrCollection;
let bi: BiEncoder;
let texts: string[];
let vectors: Float32Array;
let dim: number;
/** The ArguAna table, with a stored tsvector column: ranking reads it instead of analysing every matching text again. */
const arguana = () => ({ pool, table: 'arguana', tsvectorColumn: 'tsv' });
/** Query sample: judged queries, their own document dropped from results as BEIR does. */
let sample: { id: string; text: string }[];

beforeAll(async () => {
  db = await PGlite.create({ extensions: { vector } });
  server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  pool = new pg.Pool({ connectionString: url, max: 4 });
  data = loadBeir(requireShared('fixtures/ir/beir-arguana'));
  texts = data.docs.map((d) => `${d.title} ${d.text}`);
  // Short inputs keep embedding quick; the comparison only needs the same vectors on both sides.
  bi = await BiEncoder.load(requireShared('models/bert-tiny-bi'), { maxLength: 128 });
  vectors = await bi.embed(texts);
  dim = bi.dim;
  sample = data.queries.filter((q) => data.qrels.has(q.id)).slice(0, 50);
  await createPgvectorIndex({ ...arguana(), dim, index: 'none' });
  await upsertPgvector(
    data.docs.map((d, i) => ({ id: d.id, text: texts[i]!, metadata: { title: d.title }, vector: vectors.subarray(i * dim, (i + 1) * dim) })),
    { ...arguana(), batchSize: 500 },
  );
});

afterAll(async () => {
  await pool?.end();
  await server?.stop();
  await db?.close();
});

const ids = (c: Candidate[]) => c.map((h) => h.id);

/**
 * Equal rankings up to ties: at every rank the scores agree within `eps`, and where the ids differ
 * the two documents tie (each one's score in the other list is within eps of the score there).
 */
function expectSameRanking(got: { id: string; score: number }[], want: { id: string; score: number }[], eps = 1e-5): void {
  expect(got.length).toBe(want.length);
  const wantScore = new Map(want.map((h) => [h.id, h.score]));
  for (let i = 0; i < got.length; i++) {
    expect(Math.abs(got[i]!.score - want[i]!.score)).toBeLessThan(eps);
    if (got[i]!.id !== want[i]!.id) {
      const s = wantScore.get(got[i]!.id);
      // A tie across the cut-off: the id may sit just below the reference's k-th place.
      expect(Math.abs((s ?? want[want.length - 1]!.score) - want[i]!.score)).toBeLessThan(eps);
    }
  }
}

describe('pgvector: dense search', () => {
  it('top 10 equals FAISS Flat on the same vectors for cosine, inner product and L2 (ties aside)', async () => {
    const ip = FaissIndex.create(dim, 'Flat', { metric: 'ip' });
    const l2 = FaissIndex.create(dim, 'Flat', { metric: 'l2' });
    await ip.add(vectors);
    await l2.add(vectors);
    const qv = await bi.embed(sample.map((q) => q.text));
    const [ipRef, l2Ref] = await Promise.all([ip.search(qv, 10), l2.search(qv, 10)]);
    const ref = (r: typeof ipRef, qi: number, sign: number) =>
      Array.from({ length: 10 }, (_, j) => ({ id: data.docs[Number(r.ids[qi * 10 + j])]!.id, score: sign * r.scores[qi * 10 + j]! }));
    const retrievers = {
      cosine: new PgvectorRetriever({ ...arguana(), mode: 'dense', embedder: bi, distance: 'cosine' }),
      ip: new PgvectorRetriever({ ...arguana(), mode: 'dense', embedder: bi, distance: 'ip' }),
      l2: new PgvectorRetriever({ ...arguana(), mode: 'dense', embedder: bi, distance: 'l2' }),
    };
    let exact = 0;
    for (const [qi, q] of sample.entries()) {
      const cos = await retrievers.cosine.retrieve(q.text, { k: 10 });
      // The bi-encoder's vectors are unit length: cosine similarity is the inner product.
      expectSameRanking(cos, ref(ipRef, qi, 1));
      expectSameRanking(await retrievers.ip.retrieve(q.text, { k: 10 }), ref(ipRef, qi, 1));
      // FAISS L2 reports squared distances, pgvector the distance itself.
      const l2Hits = await retrievers.l2.retrieve(q.text, { k: 10 });
      expectSameRanking(
        l2Hits.map((h) => ({ id: h.id, score: -(h.score * h.score) })),
        ref(l2Ref, qi, -1),
      );
      if (ids(cos).join() === ref(ipRef, qi, 1).map((h) => h.id).join()) exact++;
      expect(cos[0]!.metadata).toEqual({ title: data.docs.find((d) => d.id === cos[0]!.id)!.title });
    }
    expect(exact).toBeGreaterThanOrEqual(45);  // identical id order for nearly all; the rest differ only by ties
  });

  it('an HNSW index serves the search (EXPLAIN), keeps recall against exact search, and k above ef_search still returns k rows', async () => {
    const exact = new PgvectorRetriever({ ...arguana(), mode: 'dense', embedder: bi });
    const before = await Promise.all(sample.slice(0, 20).map((q) => exact.retrieve(q.text, { k: 100 })));
    await createPgvectorIndex({ ...arguana(), dim, index: 'hnsw', m: 16, efConstruction: 64 });
    const hnsw = new PgvectorRetriever({ ...arguana(), mode: 'dense', embedder: bi, efSearch: 100 });
    const qv = `[${Array.from((await bi.embed([sample[0]!.text])).slice(0, dim)).join(',')}]`;
    const plan = (await pool.query(`EXPLAIN ${hnsw.sql.dense}`, [qv, 10])).rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('arguana_cosine_hnsw');
    let found = 0;
    for (const [i, q] of sample.slice(0, 20).entries()) {
      const hits = await hnsw.retrieve(q.text, { k: 100 });
      expect(hits).toHaveLength(100);  // hnsw.ef_search is raised to k (its default, 40, would cap this at 40)
      const truth = new Set(ids(before[i]!).slice(0, 10));
      found += ids(hits).slice(0, 10).filter((id) => truth.has(id)).length;
    }
    expect(found / 200).toBeGreaterThan(0.9);
  });
});

describe('pgvector: full-text and hybrid on ArguAna', () => {
  let bm25: Bm25Index;
  let fts: PgvectorRetriever;
  /** Full-text top 11 per query text, shared by the tests below (each query costs Postgres ~0.5 s here). */
  const ftsTop = new Map<string, Promise<string[]>>();
  const fullText = (q: string) => {
    if (!ftsTop.has(q)) ftsTop.set(q, fts.retrieve(q, { k: 11 }).then(ids));
    return ftsTop.get(q)!;
  };
  beforeAll(async () => {
    fts = new PgvectorRetriever({ ...arguana(), mode: 'fulltext' });
    bm25 = Bm25Index.create();
    await bm25.add(texts);
  });

  /** Queries whose relevant document is in the top 10 (the query's own document dropped). */
  async function found(search: (q: string) => Promise<string[]>): Promise<number> {
    let n = 0;
    for (const q of sample) {
      const top = (await search(q.text)).filter((id) => id !== q.id).slice(0, 10);
      if (top.some((id) => data.qrels.get(q.id)!.has(id))) n++;
    }
    return n;
  }

  it('full-text search (any lexeme, ts_rank by length) finds the relevant argument for most queries, near our BM25', async () => {
    const ftsFound = await found(fullText);
    const bm25Found = await found(async (q) => Array.from((await bm25.search(q, 11)).docs, (d) => data.docs[d]!.id));
    console.log(`relevant in top 10, ${sample.length} ArguAna queries: Postgres full-text ${ftsFound}, BM25 ${bm25Found}`);
    expect(ftsFound).toBeGreaterThan(sample.length / 2);
    expect(ftsFound).toBeGreaterThanOrEqual(0.8 * bm25Found);
  }, 600_000);

  it('hybrid search is RRF (in SQL) of the dense and full-text lists at depth 2k, and keeps finding the relevant argument', async () => {
    const opts = { ...arguana(), embedder: bi } as const;
    const hybrid = new PgvectorRetriever({ ...opts, mode: 'hybrid' });
    const dense = new PgvectorRetriever({ ...opts, mode: 'dense' });
    for (const q of sample.slice(0, 10)) {
      const [h, d, f] = await Promise.all([hybrid.retrieve(q.text, { k: 10 }), dense.retrieve(q.text, { k: 20 }), fts.retrieve(q.text, { k: 20 })]);
      const fused = reciprocalRankFusion([ids(d), ids(f)]).slice(0, 10);
      expect(ids(h)).toEqual(fused.map((x) => x.id));
      h.forEach((x, i) => expect(x.score).toBeCloseTo(fused[i]!.score, 12));
    }
    // With random-weight dense vectors, hybrid can only keep what full-text finds: an argument that
    // full-text ranks in its top 3 scores at least 1/63 in RRF, above all but a few dense-only hits.
    let strong = 0;
    let kept = 0;
    for (const q of sample) {
      const rel = data.qrels.get(q.id)!;
      const ftTop3 = (await fullText(q.text)).filter((id) => id !== q.id).slice(0, 3);
      if (!ftTop3.some((id) => rel.has(id))) continue;
      strong++;
      if (ids(await hybrid.retrieve(q.text, { k: 11 })).filter((id) => id !== q.id).slice(0, 10).some((id) => rel.has(id))) kept++;
    }
    console.log(`hybrid keeps the relevant argument in its top 10 for ${kept} of the ${strong} queries where full-text ranks it in the top 3`);
    expect(strong).toBeGreaterThanOrEqual(10);  // enough cases for the check to mean something (16 of these 50)
    expect(kept).toBe(strong);
  }, 600_000);
});

describe('pgvector: schema options, parsers, upsert and safety', () => {
  const tiny = { pool: undefined as unknown as PgPool, table: 'public.tiny', idColumn: 'doc_id', textColumn: 'body', metadataColumn: null, tsvectorColumn: 'tsv' };
  beforeAll(async () => {
    tiny.pool = pool;
    await createPgvectorIndex({ ...tiny, dim: 3, index: 'ivfflat', lists: 1 });
    await upsertPgvector(
      [
        { id: 'cats', text: 'Cats are small domestic animals that purr.', vector: [1, 0, 0] },
        { id: 'dogs', text: 'Dogs are loyal domestic animals that bark.', vector: [0, 1, 0] },
        { id: 'cars', text: 'Cars are machines with engines and wheels.', vector: [0, 0, 1] },
      ],
      tiny,
    );
  });

  it('custom columns, a stored tsvector column and the three query parsers', async () => {
    const any = new PgvectorRetriever({ ...tiny, queryParser: 'any' });
    const web = new PgvectorRetriever({ ...tiny, queryParser: 'websearch' });
    const plain = new PgvectorRetriever({ ...tiny, queryParser: 'plain', rank: 'ts_rank' });
    expect(ids(await any.retrieve('purring cats and barking dogs', { k: 5 })).sort()).toEqual(['cats', 'dogs']);
    expect(ids(await plain.retrieve('purring cats and barking dogs', { k: 5 }))).toEqual([]);  // all words must match
    expect(ids(await web.retrieve('domestic animals -bark', { k: 5 }))).toEqual(['cats']);
    expect(ids(await web.retrieve('"loyal domestic" or engines', { k: 5 })).sort()).toEqual(['cars', 'dogs']);
    expect(ids(await any.retrieve('the of and', { k: 5 }))).toEqual([]);  // only stop words: nothing to match
    const [top] = await any.retrieve('cats', { k: 1 });
    expect(top).toEqual({ id: 'cats', text: 'Cats are small domestic animals that purr.', score: expect.any(Number) });
    expect(top!.score).toBeGreaterThan(0);
    const dense = new PgvectorRetriever({ ...tiny, mode: 'dense', embedder: { embed: async () => new Float32Array([0.1, 0.9, 0]) }, probes: 1 });
    expect(ids(await dense.retrieve('x', { k: 3 }))).toEqual(['dogs', 'cats', 'cars']);
  });

  it('upsert replaces rows by id; bad documents fail with a BatchError naming each and nothing is written', async () => {
    await upsertPgvector([{ id: 'cars', text: 'Cars have engines and wheels; their motors purr.', vector: [0, 0, 1] }], tiny);
    const any = new PgvectorRetriever({ ...tiny });
    expect(ids(await any.retrieve('purr', { k: 5 })).sort()).toEqual(['cars', 'cats']);
    const count = async () => Number((await pool.query('SELECT count(*) AS n FROM tiny')).rows[0].n);
    expect(await count()).toBe(3);
    const e = (await rejectionOf(
      upsertPgvector(
        [
          { id: 'new', text: 'fine', vector: [1, 1, 1] },
          { id: 'new', text: 'duplicate', vector: [1, 1, 1] },
          { id: 'nan', text: 'x', vector: [1, Number.NaN, 1] },
          { id: 'short', text: 'x', vector: [1, 1] },
          { id: 'none', text: 'x' },
        ],
        tiny,
      ),
    )) as BatchError<unknown>;
    expect(e).toBeInstanceOf(BatchError);
    expect(e.failures.map((f) => [f.index, f.code])).toEqual([
      [1, 'ERR_CANDIDATE_DUPLICATE_ID'],
      [2, 'ERR_VECTOR'],
      [3, 'ERR_DIMENSION_MISMATCH'],
      [4, 'ERR_VECTOR'],
    ]);
    expect(await count()).toBe(3);
    // Postgres refuses the second statement (a NUL in text): the first, already sent, is rolled back.
    const refused = await rejectionOf(upsertPgvector([{ id: 'e', text: 'fine', vector: [1, 2, 3] }, { id: 'f', text: 'bad\u0000', vector: [1, 2, 3] }], { ...tiny, batchSize: 1 }));
    expect(refused.code).toBe('ERR_PG_QUERY');
    expect(await count()).toBe(3);
    const width = await rejectionOf(upsertPgvector([{ id: 'e', text: 'e', vector: [1, 2, 3, 4] }], tiny));
    expect(width.message).toMatch(/expected 3 dimensions, not 4/);
    // With an embedder, documents without vectors are embedded.
    await upsertPgvector([{ id: 'd', text: 'dolphins swim' }], { ...tiny, embedder: { embed: async (t) => new Float32Array(t.length * 3).fill(0.5) } });
    expect(await count()).toBe(4);
  });

  it('names are validated and quoted; query text is a bound parameter', async () => {
    const bad = (o: Record<string, unknown>) => (errorOf(() => new PgvectorRetriever({ ...arguana(), ...o })) as { code?: string }).code;
    expect(bad({ table: 'arguana; DROP TABLE arguana' })).toBe('ERR_INVALID_IDENTIFIER');
    expect(bad({ textColumn: 'text"' })).toBe('ERR_INVALID_IDENTIFIER');
    expect(bad({ textSearchConfig: "english'" })).toBe('ERR_INVALID_IDENTIFIER');
    expect(bad({ table: 'a.b.c' })).toBe('ERR_INVALID_IDENTIFIER');
    expect(bad({ mode: 'dense' })).toBe('ERR_INVALID_ARG_VALUE');  // no embedder
    expect(bad({ distance: 'manhattan' })).toBe('ERR_INVALID_ARG_TYPE');
    expect(bad({ efSearch: 5000 })).toBe('ERR_OUT_OF_RANGE');
    expect((errorOf(() => new PgvectorRetriever({ table: 'arguana' })) as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');  // no pool
    const fts = new PgvectorRetriever({ ...tiny });
    expect(await fts.retrieve("'); DROP TABLE tiny; --", { k: 3 })).toEqual([]);
    expect(Number((await pool.query('SELECT count(*) AS n FROM tiny')).rows[0].n)).toBeGreaterThan(0);
    const missing = await rejectionOf(new PgvectorRetriever({ pool, table: 'no_such_table' }).retrieve('x', { k: 1 }));
    expect(missing.code).toBe('ERR_PG_QUERY');
    expect(missing.message).toContain('42P01');
  });

  it('a retriever opened from a connection string owns its pool; close() ends it', async () => {
    const own = new PgvectorRetriever({ connection: url, table: 'tiny', idColumn: 'doc_id', textColumn: 'body', metadataColumn: null, tsvectorColumn: 'tsv' });
    expect(ids(await own.retrieve('cats', { k: 1 }))).toEqual(['cats']);
    await own.close();
    expect((await rejectionOf(own.retrieve('cats', { k: 1 }))).code).toBe('ERR_CLOSED');
  });

  it('abort rejects while the statement waits and destroys its connection; the pool stays usable', async () => {
    const mine = new pg.Pool({ connectionString: url, max: 2 });
    const r = new PgvectorRetriever({ ...tiny, pool: mine });
    expect(ids(await r.retrieve('cats', { k: 1 }))).toEqual(['cats']);
    expect(mine.totalCount).toBe(1);
    // PGlite serves one session: while another connection holds a transaction open, our statement
    // waits in its queue, so the abort is certain to land mid-query.
    const holder = await pool.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1');
    const ac = new AbortController();
    const p = r.retrieve('cats', { k: 1, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await rejectionOf(p);
    expect(e.code).toBe('ABORT_ERR');
    expect(e.name).toBe('AbortError');
    await holder.query('COMMIT');  // only now could the retriever's statement have run
    holder.release();
    expect(mine.totalCount).toBe(0);  // the aborted connection was destroyed, not returned
    expect((await rejectionOf(r.retrieve('cats', { k: 1, signal: AbortSignal.abort() }))).code).toBe('ABORT_ERR');
    expect(ids(await r.retrieve('cats', { k: 1 }))).toEqual(['cats']);
    await mine.end();
  });
});
