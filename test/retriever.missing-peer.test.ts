// pg and pgvector are optional peer dependencies: without them the pgvector retriever fails with a
// clear ERR_MISSING_DEPENDENCY when it needs them, and a caller's own pool needs no `pg` import.
import { describe, expect, it, vi } from 'vitest';
import { rejectionOf } from './helpers.js';

vi.mock('pg', () => {
  throw new Error("Cannot find package 'pg'");
});
vi.mock('pgvector', () => {
  throw new Error("Cannot find package 'pgvector'");
});

describe('pgvector retriever without its optional peers', () => {
  it('names the packages to install when it must open a pool or write a vector', async () => {
    const { PgvectorRetriever } = await import('../src/retrievers/pgvector.js');
    const fromUrl = new PgvectorRetriever({ connection: 'postgres://nowhere/db', table: 'docs' });
    const e = await rejectionOf(fromUrl.retrieve('q', { k: 1 }));
    expect(e.code).toBe('ERR_MISSING_DEPENDENCY');
    expect(e.message).toContain('npm install pg pgvector');
    // With a pool of the caller's, full-text search needs neither package; dense search needs pgvector.
    const rows = [{ id: 'a', text: 'alpha', metadata: null, score: 0.5 }];
    const pool = { connect: async () => ({ query: async () => ({ rows }), release: () => {} }), end: async () => {} };
    expect(await new PgvectorRetriever({ pool, table: 'docs' }).retrieve('q', { k: 1 })).toEqual([{ id: 'a', text: 'alpha', score: 0.5 }]);
    const dense = new PgvectorRetriever({ pool, table: 'docs', mode: 'dense', embedder: { embed: async () => new Float32Array([1, 0]) } });
    expect((await rejectionOf(dense.retrieve('q', { k: 1 }))).code).toBe('ERR_MISSING_DEPENDENCY');
  });
});
