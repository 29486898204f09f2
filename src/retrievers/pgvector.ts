/**
 * Postgres as a first stage, through `pg` and `pgvector` (optional peer dependencies, loaded only
 * when this module has to open a pool or write vectors): dense search with pgvector, full-text
 * search with tsvector, and both fused by reciprocal-rank fusion in one SQL statement.
 *
 * Every value travels as a bound parameter ($1, $2, …). Table, column and text-search configuration
 * names come from options: they must match a strict identifier pattern and are double-quoted; the
 * few DDL settings Postgres cannot bind (HNSW m / ef_construction, IVFFlat lists) are validated
 * integers.
 */
import { BatchError, CrossrankError, invalidType, validateInteger, validateObject, validateOneOf, type ItemFailure } from '../errors.js';
import { abortError } from '../inference/scorer.js';
import { badResult, checkCandidates, raceAbort, validateFusion, validateRetrieve, validateSignal } from './common.js';
import type { Candidate, Embedder, RetrieveOptions, Retriever } from './types.js';

/** The part of a `pg` Pool this module uses (a `pg.Pool` fits). */
export interface PgPool {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
}
/** The part of a pooled `pg` client this module uses. */
export interface PgPoolClient {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  /** `release(true)` destroys the connection instead of returning it to the pool. */
  release(destroy?: boolean | Error): void;
}

export type PgDistance = 'cosine' | 'ip' | 'l2';

/** Where the documents live. Names are case-sensitive SQL identifiers (they are quoted). */
export interface PgvectorTableOptions {
  /** Table name, optionally schema-qualified ('search.docs'). */
  table: string;
  /** Default 'id'. Any type; returned as text. */
  idColumn?: string;
  /** Default 'text'. */
  textColumn?: string;
  /** A vector(dim) column. Default 'embedding'. */
  embeddingColumn?: string;
  /** A jsonb column returned as `metadata`, or null for none. Default 'metadata'. */
  metadataColumn?: string | null;
  /**
   * A stored tsvector column for full-text search. Default: none, `to_tsvector(config, text)` is
   * computed (and matched by the expression index {@link createPgvectorIndex} makes).
   */
  tsvectorColumn?: string | null;
  /** Text-search configuration. Default 'english'. */
  textSearchConfig?: string;
}

export interface PgvectorConnection {
  /** A pool you own (closed by you). */
  pool?: PgPool;
  /** Or: a connection string or `pg.Pool` options; the pool made from it is closed by `close()`. */
  connection?: string | Record<string, unknown>;
}

export interface PgvectorRetrieverOptions extends PgvectorTableOptions, PgvectorConnection {
  /** Default: 'hybrid' with an embedder, else 'fulltext'. */
  mode?: 'dense' | 'fulltext' | 'hybrid';
  /** Embeds the query for dense and hybrid search (a BiEncoder, or anything with embed()). */
  embedder?: Embedder;
  /** pgvector operator: 'cosine' (<=>, score 1 − distance), 'ip' (<#>, score = inner product), 'l2' (<->, score −distance). Default 'cosine'. */
  distance?: PgDistance;
  /**
   * Full-text ranking function. Default 'ts_rank' (on ArguAna with any-lexeme queries it found the
   * relevant argument as often as ts_rank_cd and ran about 4× faster).
   */
  rank?: 'ts_rank_cd' | 'ts_rank';
  /**
   * ts_rank normalization bit mask (0–63): 1 divides by 1 + log(length), 2 by the length, 8 by the
   * unique words. Default 2: without it long documents win any-lexeme queries (relevant argument in
   * the top 10 for 8 of 40 ArguAna queries with 0, 29 with 2; our BM25: 26).
   */
  rankNormalization?: number;
  /**
   * How the query text becomes a tsquery: 'any' (a document matching any of the query's lexemes,
   * as BM25 does; for natural-language queries), 'websearch' (websearch_to_tsquery: all words,
   * "phrases", -exclusions, or), 'plain' (plainto_tsquery: all words). Default 'any'.
   */
  queryParser?: 'any' | 'websearch' | 'plain';
  /** HNSW beam width (hnsw.ef_search); raised to the number of rows asked, at most 1000. Default 40. */
  efSearch?: number;
  /** IVFFlat lists to visit (ivfflat.probes). Default: the server's (1). */
  probes?: number;
  /** Hybrid: rows taken from each side before fusion, at least k. Default 2k. */
  depth?: number;
  /** Hybrid: the RRF constant (score = Σ 1 / (rrfK + rank)). Default 60. */
  rrfK?: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A validated, double-quoted identifier (optionally schema-qualified). */
function ident(value: unknown, name: string, qualified = false): string {
  if (typeof value !== 'string') throw invalidType(name, 'of type string', value);
  const parts = qualified ? value.split('.') : [value];
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new CrossrankError(
      'ERR_INVALID_IDENTIFIER',
      `The "${name}" option must be an SQL identifier of letters, digits and _ (not starting with a digit, at most 63 characters${qualified ? ', optionally schema.name' : ''}). Received ${JSON.stringify(value)}`,
    );
  }
  return parts.map((p) => `"${p}"`).join('.');
}

/** A text-search configuration name as an SQL literal; the identifier pattern leaves nothing to escape. */
function regconfig(value: unknown, name: string): string {
  ident(value, name, true);
  return `'${value as string}'::regconfig`;
}

interface Table {
  table: string;
  /** Last part of the table name, unquoted (for index names). */
  base: string;
  id: string;
  text: string;
  embedding: string;
  metadata: string | null;
  tsv: string;
  tsvColumn: string | null;
  config: string;
}

function resolveTable(o: PgvectorTableOptions): Table {
  const table = ident(o.table, 'options.table', true);
  const tsvColumn = o.tsvectorColumn == null ? null : ident(o.tsvectorColumn, 'options.tsvectorColumn');
  const text = ident(o.textColumn ?? 'text', 'options.textColumn');
  const config = regconfig(o.textSearchConfig ?? 'english', 'options.textSearchConfig');
  return {
    table,
    base: o.table.split('.').pop()!,
    id: ident(o.idColumn ?? 'id', 'options.idColumn'),
    text,
    embedding: ident(o.embeddingColumn ?? 'embedding', 'options.embeddingColumn'),
    metadata: o.metadataColumn === null ? null : ident(o.metadataColumn ?? 'metadata', 'options.metadataColumn'),
    tsv: tsvColumn ?? `to_tsvector(${config}, ${text})`,
    tsvColumn,
    config,
  };
}

const OPERATORS: Record<PgDistance, { op: string; opclass: string; score: string }> = {
  cosine: { op: '<=>', opclass: 'vector_cosine_ops', score: '1 - dist' },
  ip: { op: '<#>', opclass: 'vector_ip_ops', score: '-dist' },
  l2: { op: '<->', opclass: 'vector_l2_ops', score: '-dist' },
};

async function importPeer<T>(name: 'pg' | 'pgvector'): Promise<T> {
  try {
    const m = (await import(name)) as { default?: T };
    return (m.default ?? m) as T;
  } catch (e) {
    throw new CrossrankError(
      'ERR_MISSING_DEPENDENCY',
      `the pgvector retriever needs the optional packages 'pg' and 'pgvector': npm install pg pgvector (loading '${name}' failed: ${(e as Error).message})`,
      { cause: e },
    );
  }
}

/** Writes a vector as pgvector's text input ('[1,2,3]'). */
async function vectorEncoder(): Promise<(v: Float32Array | readonly number[]) => string> {
  const pgvector = await importPeer<{ toSql(v: number[]): string }>('pgvector');
  return (v) => pgvector.toSql(Array.from(v));
}

function pgError(e: unknown, what: string): Error {
  if (e instanceof CrossrankError || e instanceof TypeError || e instanceof RangeError) return e;
  const err = e as Error & { code?: string };
  const state = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? ` (SQLSTATE ${err.code})` : '';
  return new CrossrankError('ERR_PG_QUERY', `${what}: ${err.message}${state}`, { cause: e });
}

/** Opens (or takes) a pool and runs statements on one client, honouring an AbortSignal. */
class PgConnection {
  readonly #given: PgPool | undefined;
  readonly #config: Record<string, unknown> | undefined;
  #pool: Promise<PgPool> | null = null;
  #closed = false;

  constructor(o: PgvectorConnection) {
    if (o.pool !== undefined) {
      if (!o.pool || typeof (o.pool as PgPool).connect !== 'function') throw invalidType('options.pool', 'a pg Pool', o.pool);
      this.#given = o.pool;
    } else if (typeof o.connection === 'string') {
      this.#config = { connectionString: o.connection };
    } else if (o.connection !== undefined) {
      validateObject(o.connection, 'options.connection');
      this.#config = o.connection;
    } else {
      throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'pass options.pool (a pg Pool) or options.connection (a connection string or pg.Pool options)');
    }
  }

  pool(): Promise<PgPool> {
    if (this.#closed) return Promise.reject(new CrossrankError('ERR_CLOSED', 'this pgvector retriever was closed'));
    if (this.#given) return Promise.resolve(this.#given);
    this.#pool ??= importPeer<{ Pool: new (c: Record<string, unknown>) => PgPool & { on(ev: 'error', f: (e: Error) => void): unknown } }>('pg').then((pg) => {
      const pool = new pg.Pool(this.#config!);
      // An idle connection the server drops is discarded by the pool; without a listener its
      // 'error' event would end the process.
      pool.on('error', () => {});
      return pool;
    });
    return this.#pool;
  }

  /**
   * Run `work` on a pooled client. On abort the promise rejects at once and the connection is
   * destroyed (which ends the query's session), so an aborted query never holds a pool slot.
   */
  async run<T>(work: (client: PgPoolClient) => Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
    const pool = await this.pool();
    let client: PgPoolClient | null = null;
    let done = false;
    const finish = (destroy: boolean) => {
      if (done || !client) return;
      done = true;
      client.release(destroy);
    };
    const connecting = pool.connect().then((c) => {
      client = c;
      if (signal?.aborted) finish(true);
      return c;
    });
    try {
      const c = await raceAbort(connecting, signal);
      const r = await raceAbort(work(c), signal, () => finish(true));
      finish(false);
      return r;
    } catch (e) {
      finish(true);
      if (signal?.aborted) throw abortError(signal);
      throw pgError(e, what);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#pool) return;
    const p = this.#pool;
    this.#pool = null;
    await (await p).end();
  }
}

export class PgvectorRetriever implements Retriever {
  readonly #conn: PgConnection;
  readonly #t: Table;
  readonly #embedder: Embedder | undefined;
  readonly #sql: { dense: string; fulltext: string; hybrid: string };
  readonly #efSearch: number;
  readonly #probes: number | undefined;
  readonly #rankNorm: number;
  readonly #depth: number | undefined;
  readonly #rrfK: number;
  readonly mode: 'dense' | 'fulltext' | 'hybrid';
  readonly distance: PgDistance;

  constructor(options: PgvectorRetrieverOptions) {
    validateObject(options as unknown, 'options');
    this.#t = resolveTable(options);
    this.#conn = new PgConnection(options);
    const e = options.embedder;
    if (e !== undefined && (!e || typeof e.embed !== 'function')) throw invalidType('options.embedder', 'an object with embed(texts) (a BiEncoder)', e);
    this.#embedder = e;
    const mode = options.mode ?? (e ? 'hybrid' : 'fulltext');
    validateOneOf(mode, 'options.mode', ['dense', 'fulltext', 'hybrid'] as const);
    if (mode !== 'fulltext' && !e) throw new CrossrankError('ERR_INVALID_ARG_VALUE', `options.mode '${mode}' needs options.embedder to embed the query`);
    this.mode = mode;
    const distance = options.distance ?? 'cosine';
    validateOneOf(distance, 'options.distance', ['cosine', 'ip', 'l2'] as const);
    this.distance = distance;
    const rank = options.rank ?? 'ts_rank';
    validateOneOf(rank, 'options.rank', ['ts_rank_cd', 'ts_rank'] as const);
    const parser = options.queryParser ?? 'any';
    validateOneOf(parser, 'options.queryParser', ['any', 'websearch', 'plain'] as const);
    this.#rankNorm = options.rankNormalization ?? 2;
    validateInteger(this.#rankNorm, 'options.rankNormalization', 0, 63);
    this.#efSearch = options.efSearch ?? 40;
    validateInteger(this.#efSearch, 'options.efSearch', 1, 1000);
    if (options.probes !== undefined) validateInteger(options.probes, 'options.probes', 1, 1 << 20);
    this.#probes = options.probes;
    const { depth, rrfK } = validateFusion(options);
    this.#depth = depth;
    this.#rrfK = rrfK;
    this.#sql = buildQueries(this.#t, OPERATORS[distance], rank, parser);
  }

  /**
   * The best `k` rows for `query`. Scores: dense as `distance` says, full-text the ts_rank value,
   * hybrid the RRF sum. Rows with a NULL embedding are not dense candidates. Postgres errors
   * become ERR_PG_QUERY (with the SQLSTATE); aborting destroys the connection running the query.
   */
  async retrieve(query: string, options: RetrieveOptions): Promise<Candidate[]> {
    const { k, signal } = validateRetrieve(query, options);
    const depth = this.mode === 'hybrid' ? Math.max(k, this.#depth ?? 2 * k) : k;
    const vector = this.mode === 'fulltext' ? null : await this.#queryVector(query, signal);
    const rows = await this.#conn.run(
      async (c) => {
        if (this.mode === 'fulltext') return (await c.query(this.#sql.fulltext, [query, this.#rankNorm, k])).rows;
        // Index settings are local to a transaction, so a caller's pool is left as it was.
        await c.query('BEGIN');
        try {
          await c.query("SELECT set_config('hnsw.ef_search', $1, true)", [String(Math.min(1000, Math.max(this.#efSearch, depth)))]);
          if (this.#probes !== undefined) await c.query("SELECT set_config('ivfflat.probes', $1, true)", [String(this.#probes)]);
          const r =
            this.mode === 'dense'
              ? await c.query(this.#sql.dense, [vector, k])
              : await c.query(this.#sql.hybrid, [vector, depth, query, this.#rankNorm, this.#rrfK, k]);
          await c.query('COMMIT');
          return r.rows;
        } catch (e) {
          await c.query('ROLLBACK').catch(() => {});
          throw e;
        }
      },
      signal,
      `pgvector ${this.mode} search on ${this.#t.table}`,
    );
    return checkCandidates(
      rows.map((r) => ({ id: r.id, text: r.text, metadata: r.metadata ?? undefined, score: Number(r.score) })),
      `${this.#t.table} rows`,
    );
  }

  /** The statements this retriever runs, for EXPLAIN (parameters as `retrieve` binds them). */
  get sql(): Readonly<{ dense: string; fulltext: string; hybrid: string }> {
    return this.#sql;
  }

  async #queryVector(query: string, signal: AbortSignal | undefined): Promise<string> {
    const v = await this.#embedder!.embed([query], signal ? { signal } : {});
    if (!(v instanceof Float32Array) || v.length === 0) throw badResult('options.embedder.embed', 'a non-empty Float32Array', v);
    return (await vectorEncoder())(v);
  }

  /**
   * Refuse further searches (ERR_CLOSED) and end the pool this retriever opened from
   * `options.connection` (a pool you passed is yours to end).
   */
  close(): Promise<void> {
    return this.#conn.close();
  }
}

function buildQueries(t: Table, dist: { op: string; score: string }, rank: string, parser: string): { dense: string; fulltext: string; hybrid: string } {
  const meta = t.metadata ?? 'NULL::jsonb';
  // $q: the query text.
  const tsquery = (q: string) =>
    parser === 'websearch'
      ? `websearch_to_tsquery(${t.config}, ${q})`
      : parser === 'plain'
        ? `plainto_tsquery(${t.config}, ${q})`
        : // Any lexeme of the query: analysed with the configuration, then OR-ed as quoted lexemes
          // under 'simple' (which leaves them as they are).
          `(SELECT to_tsquery('simple', string_agg('''' || replace(replace(lexeme, chr(92), chr(92) || chr(92)), chr(39), chr(92) || chr(39)) || '''', ' | ')) FROM unnest(to_tsvector(${t.config}, ${q})))`;
  const dense = `SELECT ${t.id}::text AS id, ${t.text} AS text, ${meta} AS metadata, ${dist.score} AS score FROM (
  SELECT ${t.id}, ${t.text}, ${meta}, ${t.embedding} ${dist.op} $1::vector AS dist FROM ${t.table}
  WHERE ${t.embedding} IS NOT NULL ORDER BY ${t.embedding} ${dist.op} $1::vector LIMIT $2) d
ORDER BY dist, ${t.id}`;
  const fulltext = `SELECT ${t.id}::text AS id, ${t.text} AS text, ${meta} AS metadata, ${rank}(${t.tsv}, q.q, $2) AS score
FROM ${t.table}, (SELECT ${tsquery('$1')} AS q) q
WHERE ${t.tsv} @@ q.q ORDER BY score DESC, ${t.id} LIMIT $3`;
  // RRF over the top `depth` of each side ($2); ties keep dense order first, then full-text order,
  // as reciprocalRankFusion does.
  const hybrid = `WITH dense AS (
  SELECT id, row_number() OVER (ORDER BY dist, id) AS r FROM (
    SELECT ${t.id} AS id, ${t.embedding} ${dist.op} $1::vector AS dist FROM ${t.table}
    WHERE ${t.embedding} IS NOT NULL ORDER BY ${t.embedding} ${dist.op} $1::vector LIMIT $2) d
), sparse AS (
  SELECT id, row_number() OVER (ORDER BY score DESC, id) AS r FROM (
    SELECT ${t.id} AS id, ${rank}(${t.tsv}, q.q, $4) AS score FROM ${t.table}, (SELECT ${tsquery('$3')} AS q) q
    WHERE ${t.tsv} @@ q.q ORDER BY score DESC, ${t.id} LIMIT $2) s
), fused AS (
  SELECT COALESCE(d.id, s.id) AS id, d.r AS dr, s.r AS sr,
    COALESCE(1.0::float8 / ($5::float8 + d.r), 0) + COALESCE(1.0::float8 / ($5::float8 + s.r), 0) AS score
  FROM dense d FULL OUTER JOIN sparse s ON d.id = s.id
)
SELECT f.id::text AS id, t.${t.text} AS text, ${t.metadata ? `t.${t.metadata}` : 'NULL::jsonb'} AS metadata, f.score AS score
FROM fused f JOIN ${t.table} t ON t.${t.id} = f.id
ORDER BY f.score DESC, f.dr ASC NULLS LAST, f.sr ASC LIMIT $6`;
  return { dense, fulltext, hybrid };
}

export interface PgvectorIndexOptions extends PgvectorTableOptions, PgvectorConnection {
  /** Vector width of the embedding column. */
  dim: number;
  /** The operator class the vector index serves; search with the same `distance`. Default 'cosine'. */
  distance?: PgDistance;
  /**
   * Vector index: 'hnsw' (default), 'ivfflat' (build it after loading the rows: its lists are
   * trained on what the table holds), or 'none' (exact scans).
   */
  index?: 'hnsw' | 'ivfflat' | 'none';
  /** HNSW: links per node. Default 16. */
  m?: number;
  /** HNSW: build beam width. Default 64. */
  efConstruction?: number;
  /** IVFFlat: number of lists. Default max(1, rows / 1000) at build time, at least 1. */
  lists?: number;
  /** A GIN index for full-text search (on tsvectorColumn, else on to_tsvector(config, text)). Default true. */
  fulltext?: boolean;
}

/**
 * Create (if absent) the vector extension, the table — `id text primary key, text text, metadata
 * jsonb, embedding vector(dim)` plus a generated tsvector column when `tsvectorColumn` is named —
 * and its vector and full-text indexes. Idempotent: existing objects are left as they are.
 */
export async function createPgvectorIndex(options: PgvectorIndexOptions): Promise<void> {
  validateObject(options as unknown, 'options');
  const t = resolveTable(options);
  validateInteger(options.dim, 'options.dim', 1, 16_000);
  const distance = options.distance ?? 'cosine';
  validateOneOf(distance, 'options.distance', ['cosine', 'ip', 'l2'] as const);
  const kind = options.index ?? 'hnsw';
  validateOneOf(kind, 'options.index', ['hnsw', 'ivfflat', 'none'] as const);
  const m = options.m ?? 16;
  validateInteger(m, 'options.m', 2, 100);
  const efc = options.efConstruction ?? 64;
  validateInteger(efc, 'options.efConstruction', 4, 1000);
  if (options.lists !== undefined) validateInteger(options.lists, 'options.lists', 1, 32_768);
  const fulltext = options.fulltext ?? true;
  if (typeof fulltext !== 'boolean') throw invalidType('options.fulltext', 'of type boolean', fulltext);
  const conn = new PgConnection(options);
  const opclass = OPERATORS[distance].opclass;
  const name = (suffix: string) => ident(`${t.base}_${suffix}`.slice(0, 63), 'index name');
  try {
    await conn.run(
      async (c) => {
        await c.query('CREATE EXTENSION IF NOT EXISTS vector');
        const tsvCol = t.tsvColumn ? `, ${t.tsvColumn} tsvector GENERATED ALWAYS AS (to_tsvector(${t.config}, ${t.text})) STORED` : '';
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${t.table} (${t.id} text PRIMARY KEY, ${t.text} text NOT NULL${t.metadata ? `, ${t.metadata} jsonb` : ''}, ${t.embedding} vector(${options.dim})${tsvCol})`,
        );
        if (kind === 'hnsw') {
          await c.query(`CREATE INDEX IF NOT EXISTS ${name(`${distance}_hnsw`)} ON ${t.table} USING hnsw (${t.embedding} ${opclass}) WITH (m = ${m}, ef_construction = ${efc})`);
        } else if (kind === 'ivfflat') {
          let lists = options.lists;
          if (lists === undefined) {
            const rows = Number((await c.query(`SELECT count(*) AS n FROM ${t.table}`)).rows[0]!.n);
            lists = Math.max(1, Math.min(32_768, Math.floor(rows / 1000)));
          }
          await c.query(`CREATE INDEX IF NOT EXISTS ${name(`${distance}_ivfflat`)} ON ${t.table} USING ivfflat (${t.embedding} ${opclass}) WITH (lists = ${lists})`);
        }
        if (fulltext) await c.query(`CREATE INDEX IF NOT EXISTS ${name('fts')} ON ${t.table} USING gin ((${t.tsv}))`);
      },
      undefined,
      `creating ${t.table}`,
    );
  } finally {
    await conn.close();
  }
}

/** A row to write: its vector, or none for an `embedder` to compute from the text. */
export interface PgvectorDocument {
  id: string;
  text: string;
  metadata?: Record<string, unknown>;
  vector?: Float32Array | readonly number[];
}

export interface UpsertOptions extends PgvectorTableOptions, PgvectorConnection {
  /** Embeds the texts of documents given without `vector`. */
  embedder?: Embedder;
  /** Rows per INSERT statement. Default 256. */
  batchSize?: number;
  signal?: AbortSignal;
}

/**
 * Insert or replace documents (by id) in one transaction: all are written or none. Every document
 * is checked first (id a non-empty string unique in the call, text a string, metadata an object,
 * vector finite numbers of one width); bad ones fail the call with a BatchError naming each.
 */
export async function upsertPgvector(docs: readonly PgvectorDocument[], options: UpsertOptions): Promise<{ upserted: number }> {
  if (!Array.isArray(docs)) throw invalidType('docs', 'an array of {id, text, metadata?, vector?}', docs);
  validateObject(options as unknown, 'options');
  const t = resolveTable(options);
  const batchSize = options.batchSize ?? 256;
  validateInteger(batchSize, 'options.batchSize', 1, 10_000);
  validateSignal(options.signal, 'options.signal');
  const embedder = options.embedder;
  if (embedder !== undefined && (!embedder || typeof embedder.embed !== 'function')) throw invalidType('options.embedder', 'an object with embed(texts)', embedder);

  const failures: ItemFailure[] = [];
  let checked: Candidate[] = [];
  try {
    checked = checkCandidates(docs, 'docs', { scores: docs.map(() => 0) });
  } catch (e) {
    if (!(e instanceof BatchError)) throw e;
    failures.push(...(e.failures as ItemFailure[]));
  }
  let width = -1;
  const needEmbedding: number[] = [];
  docs.forEach((d, i) => {
    const v = d.vector;
    if (v === undefined) {
      if (!embedder) failures.push({ index: i, code: 'ERR_VECTOR', message: `docs[${i}] has no vector and options.embedder is not set` });
      else needEmbedding.push(i);
      return;
    }
    if (!(v instanceof Float32Array) && !Array.isArray(v)) {
      failures.push({ index: i, code: 'ERR_VECTOR', message: `docs[${i}].vector must be a Float32Array or an array of numbers` });
      return;
    }
    if (!Array.prototype.every.call(v, (x: unknown) => typeof x === 'number' && Number.isFinite(x))) {
      failures.push({ index: i, code: 'ERR_VECTOR', message: `docs[${i}].vector holds a value that is not a finite number` });
      return;
    }
    if (width < 0) width = v.length;
    else if (v.length !== width) failures.push({ index: i, code: 'ERR_DIMENSION_MISMATCH', message: `docs[${i}].vector has ${v.length} values, docs before it ${width}` });
  });
  if (failures.length) {
    failures.sort((a, b) => a.index - b.index);
    throw new BatchError<PgvectorDocument>(failures, docs.map((d, i) => (failures.some((f) => f.index === i) ? null : d)));
  }

  const vectors: (Float32Array | readonly number[])[] = docs.map((d) => d.vector ?? new Float32Array(0));
  if (needEmbedding.length) {
    const emb = await embedder!.embed(needEmbedding.map((i) => docs[i]!.text), options.signal ? { signal: options.signal } : {});
    const dim = emb.length / needEmbedding.length;
    if (!(emb instanceof Float32Array) || !Number.isInteger(dim) || dim === 0) throw badResult('options.embedder.embed', `${needEmbedding.length} vectors`, emb);
    if (width >= 0 && dim !== width) throw new CrossrankError('ERR_DIMENSION_MISMATCH', `options.embedder makes ${dim}-dimensional vectors, the given vectors have ${width}`);
    needEmbedding.forEach((i, j) => (vectors[i] = emb.subarray(j * dim, (j + 1) * dim)));
  }

  const encode = await vectorEncoder();
  const conn = new PgConnection(options);
  const cols = [t.id, t.text, ...(t.metadata ? [t.metadata] : []), t.embedding];
  const per = cols.length;
  const update = cols.slice(1).map((c) => `${c} = EXCLUDED.${c}`).join(', ');
  try {
    await conn.run(
      async (c) => {
        await c.query('BEGIN');
        try {
          for (let a = 0; a < checked.length; a += batchSize) {
            if (options.signal?.aborted) throw abortError(options.signal);
            const part = checked.slice(a, a + batchSize);
            const values: unknown[] = [];
            const tuples = part.map((d, j) => {
              values.push(d.id, d.text);
              if (t.metadata) values.push(d.metadata === undefined ? null : JSON.stringify(d.metadata));
              values.push(encode(vectors[a + j]!));
              const ph = cols.map((_, x) => `$${j * per + x + 1}`);
              if (t.metadata) ph[2] += '::jsonb';
              ph[per - 1] += '::vector';
              return `(${ph.join(', ')})`;
            });
            await c.query(`INSERT INTO ${t.table} (${cols.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (${t.id}) DO UPDATE SET ${update}`, values);
          }
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK').catch(() => {});
          throw e;
        }
      },
      options.signal,
      `upserting into ${t.table}`,
    );
  } finally {
    await conn.close();
  }
  return { upserted: checked.length };
}
