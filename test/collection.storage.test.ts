// Collection storage: the write lock within a process, read-only opens (nothing written, last
// checkpoint, refresh), the files a checkpoint keeps, hostile manifests / databases / id maps,
// migration of a format-1 collection, moved collections, verify() and `crossrank verify`.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { BiEncoder, Collection } from '../src/index.js';
import { rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';
import { doc, docs } from './fixtures/synthetic-docs.mjs';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `crossrank-${p}-`));
const BI = () => requireShared('models/bert-tiny-bi');
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'collection.json'), 'utf8')) as Record<string, any>;
/** Every file of a directory with its content hash, except SQLite's shared-memory index (-shm). */
const snapshot = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => !f.endsWith('-shm'))
      .sort()
      .map((f) => [f, `${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')} ${statSync(join(dir, f)).mtimeMs}`]),
  );

const open: Collection[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
const keep = (c: Collection) => (open.push(c), c);

describe('write lock and read-only opens', () => {
  it('a second writer in the same process gets ERR_COLLECTION_LOCKED naming this pid, waits with lockTimeoutMs, and the data stays intact', async () => {
    const dir = tmp('lock');
    const w = await Collection.create(dir, { bm25: true });
    await w.add(docs(0, 20));
    const e = await rejectionOf(Collection.open(dir));
    expect(e.code).toBe('ERR_COLLECTION_LOCKED');
    expect(e.message).toContain(`pid ${process.pid}`);
    expect((e as { pid?: number }).pid).toBe(process.pid);
    expect((await rejectionOf(Collection.create(dir))).code).toBe('ERR_COLLECTION_EXISTS');
    // Waiting: the first writer closes within the timeout.
    const waiting = Collection.open(dir, { lockTimeoutMs: 10_000 });
    setTimeout(() => void w.close(), 200);
    const w2 = keep(await waiting);
    expect(w2.size).toBe(20);
    expect((await w2.search('uniq7', { first: 'bm25', topK: 1 })).hits[0]!.id).toBe('d7');
    const timedOut = await rejectionOf(Collection.open(dir, { lockTimeoutMs: 150 }));
    expect(timedOut.code).toBe('ERR_COLLECTION_LOCKED');
    expect(timedOut.message).toMatch(/still after 150 ms/);
    expect((await rejectionOf(Collection.open(dir, { lockTimeoutMs: -1 }))).code).toBe('ERR_OUT_OF_RANGE');
  });

  it('a read-only open writes nothing (no recovery), searches the last checkpoint, and picks up newer ones', async () => {
    const dir = tmp('readonly');
    const w = await Collection.create(dir, { embedder: { model: BI() }, factory: 'HNSW16' });
    await w.add(docs(0, 100));
    await w.close();
    // A writer dies (SIGKILL) after committing rows it never checkpointed.
    const script = `
      import { Collection } from ${JSON.stringify(join(import.meta.dirname, '../dist/index.js'))};
      const col = await Collection.open(${JSON.stringify(dir)});
      await col.add([{ id: 'late', text: 'zebra quokka late arrival' }, { id: 'd3', text: 'd3 replaced with walrus text' }]);`;
    const died = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CROSSRANK_FAULT: 'add:indexed' } });
    expect(died.signal).toBe('SIGKILL');
    const before = snapshot(dir);
    const r = keep(await Collection.open(dir, { readOnly: true, refreshIntervalMs: 0 }));
    expect(r.readOnly).toBe(true);
    const seq = r.seq;
    // The uncheckpointed rows are not in its indexes; the replaced d3 (gone from SQLite) is left out, never shown stale.
    const bm = await r.search('zebra quokka walrus uniq3', { first: 'bm25', candidates: 100, topK: 100 });
    expect(bm.hits.map((h) => h.id)).not.toContain('late');
    expect(bm.hits.map((h) => h.id)).not.toContain('d3');
    const dense = await r.search('river stone', { first: 'dense', candidates: 100, topK: 100 });
    expect(dense.hits).toHaveLength(99);
    for (const h of dense.hits) expect(h.text).toBe(doc(Number(h.id.slice(1))).text);
    expect((await r.verify()).ok).toBe(true);
    for (const [name, p] of [['add', r.add(docs(0, 1))], ['remove', r.remove(['d1'])], ['compact', r.compact()], ['train', r.train()]] as const) {
      const err = await rejectionOf(p);
      expect(err.code, name).toBe('ERR_COLLECTION_READ_ONLY');
    }
    expect((await rejectionOf(r.verify({ repair: true }))).code).toBe('ERR_COLLECTION_READ_ONLY');
    expect(await r.refresh()).toBe(false);
    expect(snapshot(dir)).toEqual(before);
    // The writer's open recovers them; the reader sees them only once it loads that checkpoint.
    const w2 = keep(await Collection.open(dir));
    expect(w2.get('late')?.text).toBe('zebra quokka late arrival');
    expect((await r.search('zebra quokka', { first: 'bm25', topK: 3 })).hits.map((h) => h.id)).not.toContain('late');
    expect(await r.refresh()).toBe(true);
    expect(r.seq).toBeGreaterThan(seq);
    expect((await r.search('zebra quokka', { first: 'bm25', topK: 1 })).hits[0]!.id).toBe('late');
    expect((await r.search('d3 replaced with walrus text', { first: 'dense', topK: 1 })).hits[0]).toMatchObject({ id: 'd3', text: 'd3 replaced with walrus text' });
    // Automatic pick-up: a search notices the new manifest and loads it in the background.
    const auto = keep(await Collection.open(dir, { readOnly: true, refreshIntervalMs: 1 }));
    await w2.add([{ id: 'newest', text: 'narwhal ocelot newest' }]);
    let seen = false;
    for (let i = 0; i < 200 && !seen; i++) {
      await new Promise((res) => setTimeout(res, 5));
      seen = (await auto.search('narwhal ocelot', { first: 'bm25', topK: 1 })).hits[0]?.id === 'newest';
    }
    expect(seen).toBe(true);
    expect(auto.seq).toBe(w2.seq);
  });

  it('a checkpoint keeps its files and the previous checkpoint\'s (a reader may be loading them), nothing older', async () => {
    const dir = tmp('files');
    const w = keep(await Collection.create(dir, { embedder: { model: BI() } }));
    for (let i = 0; i < 4; i++) await w.add(docs(i * 10, i * 10 + 10));
    const s = w.seq;
    const names = (n: number) => [`bm25.${n}.bin`, `bm25.${n}.ids`, `vectors.${n}.faiss`];
    expect(readdirSync(dir).filter((f) => /\.(bin|ids|faiss)$/.test(f)).sort()).toEqual([...names(s - 1), ...names(s)].sort());
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);
  });
});

describe('hostile files', () => {
  async function healthy(): Promise<string> {
    const dir = tmp('hostile');
    const w = await Collection.create(dir, { embedder: { model: BI() } });
    await w.add(docs(0, 30));
    await w.close();
    return dir;
  }

  it('a manifest that is not what the writer wrote is a typed error, never a path outside the directory', async () => {
    const dir = await healthy();
    const good = manifestOf(dir);
    const f = good.files;
    const cases: [string, unknown, string, RegExp][] = [
      ['null', null, 'ERR_CORRUPT_COLLECTION', /not a crossrank collection manifest/],
      ['not JSON', '{"format": "crossrank-', 'ERR_CORRUPT_COLLECTION', /not JSON/],
      ['files: null', { ...good, files: null }, 'ERR_CORRUPT_COLLECTION', /\/files must be object/],
      ['a way up', { ...good, files: { ...f, faiss: '../vectors.2.faiss' } }, 'ERR_CORRUPT_COLLECTION', /\/files\/faiss must match pattern/],
      ['an absolute path', { ...good, files: { ...f, bm25: '/etc/passwd' } }, 'ERR_CORRUPT_COLLECTION', /\/files\/bm25 must match pattern/],
      ['another checkpoint\'s file', { ...good, files: { ...f, bm25: `bm25.${good.seq - 1}.bin` } }, 'ERR_CORRUPT_COLLECTION', /does not belong to checkpoint/],
      ['an unknown version', { ...good, version: 7 }, 'ERR_COLLECTION_FORMAT', /version 7; this crossrank reads versions 1 and 2/],
      ['an unknown key', { ...good, extra: 1 }, 'ERR_CORRUPT_COLLECTION', /must NOT have additional properties/],
      ['a negative seq', { ...good, seq: -1 }, 'ERR_CORRUPT_COLLECTION', /\/seq must be >= 0/],
      ['a bad pooling', { ...good, dense: { ...good.dense, embedder: { ...good.dense.embedder, options: { pooling: 'sum' } } } }, 'ERR_CORRUPT_COLLECTION', /pooling must be equal to one of the allowed values/],
      ['stale without a dense file', { ...good, stale: 3, files: { ...f, faiss: null } }, 'ERR_CORRUPT_COLLECTION', /stale is 3/],
    ];
    for (const [name, content, code, message] of cases) {
      writeFileSync(join(dir, 'collection.json'), typeof content === 'string' ? content : JSON.stringify(content));
      for (const readOnly of [false, true]) {
        const e = await rejectionOf(Collection.open(dir, { readOnly }));
        expect(e.code, name).toBe(code);
        expect(e.message, name).toMatch(message);
      }
    }
    // A refused writer open let go of the lock and created nothing.
    writeFileSync(join(dir, 'collection.json'), JSON.stringify(good));
    keep(await Collection.open(dir));
  });

  it('a docs.sqlite of random bytes, a damaged id map and a missing index file are typed errors naming the file', async () => {
    const dir = await healthy();
    const m = manifestOf(dir);
    const ids = join(dir, m.files.bm25Ids);
    const orig = readFileSync(ids);
    const flipped = Buffer.from(orig);
    flipped[20]! ^= 0x10;
    writeFileSync(ids, flipped);
    for (const readOnly of [false, true]) {
      const e = await rejectionOf(Collection.open(dir, { readOnly }));
      expect(e.code).toBe('ERR_CORRUPT_INDEX');
      expect(e.message).toContain(ids);
      expect(e.message).toMatch(/checksum mismatch/);
    }
    writeFileSync(ids, orig.subarray(0, orig.length - 8));
    expect((await rejectionOf(Collection.open(dir))).message).toMatch(/bytes cannot hold the \d+ entries/);
    writeFileSync(ids, orig);
    rmSync(join(dir, m.files.bm25));
    const missing = await rejectionOf(Collection.open(dir, { readOnly: true }));
    expect(missing.code).toBe('ERR_INDEX_IO');
    expect(missing.message).toContain(m.files.bm25);
    const db = join(tmp('notadb'), 'c');
    const c = await Collection.create(db, { bm25: true });
    await c.close();
    writeFileSync(join(db, 'docs.sqlite'), randomBytes(8192));
    for (const readOnly of [false, true]) {
      const e = await rejectionOf(Collection.open(db, { readOnly }));
      expect(e.code).toBe('ERR_CORRUPT_COLLECTION');
      expect(e.message).toMatch(/docs\.sqlite is not a readable crossrank document database \(SQLITE_NOTADB/);
    }
  });
});

describe('format 1 (crossrank 0.1)', () => {
  it('is refused read-only, migrated when opened for writing: rowids never reused, the stale vector of a reused rowid gone', async () => {
    const dir = join(tmp('v1'), 'col');
    cpSync(join(import.meta.dirname, 'fixtures/collection-v1'), dir, { recursive: true });
    const embedder = await BiEncoder.load(BI());
    const ro = await rejectionOf(Collection.open(dir, { readOnly: true, embedder }));
    expect(ro.code).toBe('ERR_COLLECTION_FORMAT');
    expect(ro.message).toMatch(/format 1; open the collection once for writing/);
    const v1Model = manifestOf(dir).dense.embedder.model as string;
    // A writer killed right after converting the database (the manifest still says format 1)…
    const script = `
      import { BiEncoder, Collection } from ${JSON.stringify(join(import.meta.dirname, '../dist/index.js'))};
      await Collection.open(${JSON.stringify(dir)}, { embedder: await BiEncoder.load(${JSON.stringify(BI())}) });`;
    const died = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CROSSRANK_FAULT: 'migrate:schema' } });
    expect(died.signal).toBe('SIGKILL');
    expect(manifestOf(dir).version).toBe(1);
    // …and the next open finishes the migration.
    const col = keep(await Collection.open(dir, { embedder }));
    const m = manifestOf(dir);
    expect(m.version).toBe(2);
    expect(m.dense.embedder.path).toBe(v1Model);
    expect(readdirSync(dir).filter((f) => f.endsWith('.faiss'))).toEqual([m.files.faiss]); // format 1's files are gone
    expect(col.size).toBe(39);
    expect(col.staleVectors).toBe(0);
    expect(await col.verify({ sample: 39 })).toMatchObject({ ok: true, documents: 39 });
    // In format 1 "late" took rowid 41, and the HNSW index held two vectors under 41 (d3's replaced
    // text's, and its own). Rebuilt (verify above compared all 39 stored vectors with their texts):
    // one vector per document, each found by its own text.
    const all = await col.search('a replaced third document about tides', { first: 'dense', candidates: 39, topK: 39 });
    expect(new Set(all.hits.map((h) => h.id)).size).toBe(39);
    expect((await col.search('a document added last about volcanoes', { first: 'dense', topK: 1 })).hits[0]!.id).toBe('late');
    // The AUTOINCREMENT counter starts above every rowid format 1 used.
    await col.remove(['late']);
    await col.add([{ id: 'after', text: 'added after the migration' }]);
    const db = new Database(join(dir, 'docs.sqlite'), { readonly: true });
    expect((db.prepare("SELECT rowid FROM docs WHERE id = 'after'").get() as { rowid: number }).rowid).toBe(42);
    db.close();
  });
});

describe('moved collections', () => {
  it('find their model relative to the collection when both moved', async () => {
    const a = tmp('move-a');
    cpSync(BI(), join(a, 'model'), { recursive: true });
    const w = await Collection.create(join(a, 'col'), { embedder: { model: join(a, 'model') } });
    await w.add(docs(0, 10));
    await w.close();
    expect(manifestOf(join(a, 'col')).dense.embedder).toMatchObject({ path: join(a, 'model'), relativePath: '../model' });
    const b = `${a}-moved`;
    renameSync(a, b);
    const r = keep(await Collection.open(join(b, 'col'), { readOnly: true }));
    expect((await r.search(doc(4).text, { first: 'dense', topK: 1 })).hits[0]!.id).toBe('d4');
  });

  it('find a hub model again by id and commit in another cache', async () => {
    const commit = 'c0ffee'.padEnd(40, '0');
    const cache1 = tmp('hub-cache');
    const repo = join(cache1, 'models--acme--tiny-bi');
    cpSync(BI(), join(repo, 'snapshots', commit), { recursive: true });
    mkdirSync(join(repo, 'refs'));
    writeFileSync(join(repo, 'refs', 'main'), commit);
    const dir = join(tmp('hub-col'), 'col');
    const w = await Collection.create(dir, { embedder: { model: 'acme/tiny-bi', options: { cacheDir: cache1, localFilesOnly: true } } });
    await w.add(docs(0, 10));
    await w.close();
    expect(manifestOf(dir).dense.embedder.hub).toEqual({ id: 'acme/tiny-bi', revision: commit });
    const cache2 = `${cache1}-elsewhere`;
    renameSync(cache1, cache2);
    const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
    process.env.HF_HUB_CACHE = cache2;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const r = keep(await Collection.open(dir, { readOnly: true }));
      expect((await r.search(doc(6).text, { first: 'dense', topK: 1 })).hits[0]!.id).toBe('d6');
      rmSync(cache2, { recursive: true });
      const gone = await rejectionOf(Collection.open(dir, { readOnly: true }));
      expect(gone.code).toBe('ERR_MODEL_NOT_CACHED');
    } finally {
      for (const [k, v] of [['HF_HUB_CACHE', saved.cache], ['HF_HUB_OFFLINE', saved.offline]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('verify', () => {
  it('finds rows missing from or extra in the indexes and vectors that differ; --repair rebuilds from SQLite', async () => {
    const dir = tmp('verify');
    const w = await Collection.create(dir, { embedder: { model: BI() } });
    await w.add(docs(0, 60));
    const clean = await w.verify({ sample: 60 });
    expect(clean).toMatchObject({ ok: true, seq: w.seq, documents: 60, problems: [] });
    expect(clean.checked).toEqual({ bm25: { entries: 60, live: 60 }, dense: { vectors: 60, stale: 0, enumerated: true, sampled: 60 } });
    await w.close();
    // Damage SQLite behind the collection's back: a row deleted, a row's text changed, a row added.
    const db = new Database(join(dir, 'docs.sqlite'));
    const rowid = (id: string) => (db.prepare('SELECT rowid FROM docs WHERE id = ?').get(id) as { rowid: number }).rowid;
    const gone = rowid('d5');
    const changed = rowid('d9');
    db.prepare('DELETE FROM docs WHERE rowid = ?').run(gone);
    db.prepare("UPDATE docs SET text = 'a text the index never saw about glaciers' WHERE rowid = ?").run(changed);
    const seq = manifestOf(dir).seq;
    const added = Number(db.prepare("INSERT INTO docs (id, text, metadata, hash, seq) VALUES ('ghost', 'ghost text', NULL, 'x', ?)").run(seq).lastInsertRowid);
    db.close();
    const cli = join(import.meta.dirname, '../dist/cli.js');
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, [cli, 'verify', dir, ...args], { encoding: 'utf8' }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const bad = await run('--sample', '60', '--json');
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout) as { ok: boolean; problems: { part: string; message: string }[] };
    expect(report.ok).toBe(false);
    const text = report.problems.map((p) => `${p.part}: ${p.message}`).join('\n');
    for (const part of ['bm25', 'dense']) {
      expect(text).toContain(`${part}: ${part === 'bm25' ? 'id map' : 'ids'}: documents missing: 1 (rowids ${added})`);
      expect(text).toContain(`${part}: ${part === 'bm25' ? 'id map' : 'ids'}: entries for no document: 1 (rowids ${gone})`);
    }
    // The changed text's vector is not the stored one; the added row has none at all.
    expect(text).toMatch(new RegExp(`dense: 2 of 60 sampled documents: rowid ${changed}: stored vector differs from its text's embedding \\(not among its nearest\\); rowid ${added}: stored vector differs`));
    const repaired = await run('--repair', '--sample', '60');
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toMatch(/repaired: rebuilt every index from SQLite/);
    const after = await run('--sample', '60');
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/^ok: checkpoint \d+, 60 documents/m);
    const r = keep(await Collection.open(dir, { readOnly: true }));
    expect((await r.search('a text the index never saw about glaciers', { first: 'dense', topK: 1 })).hits[0]!.id).toBe('d9');
    expect((await r.search('ghost text', { first: 'bm25', topK: 1 })).hits[0]!.id).toBe('ghost');
    expect(existsSync(join(dir, 'collection.json'))).toBe(true);
  }, 60_000);
});
