// The quick start run against an installed crossrank (scripts/verify-package.sh runs it in a
// project that did `npm install ./crossrank-*.tgz`). Usage: node smoke.mjs CROSS_MODEL BI_MODEL
import { Bm25Index, BiEncoder, Collection, CrossEncoder, FaissIndex, Tokenizer } from 'crossrank';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const [cross, bi] = process.argv.slice(2);
const t0 = performance.now();
const step = (what) => console.log(`smoke: ${what} (${Math.round(performance.now() - t0)} ms)`);

const tok = Tokenizer.fromDirectory(cross);
const e = tok.encode('what is bm25?', 'BM25 is a ranking function', { maxLength: 64 });
assert.equal(e.ids[0], tok.tokenToId('[CLS]'));
assert.ok(e.ids.length > 8);
step(`tokenized a pair into ${e.ids.length} tokens`);

const docs = [
  'BM25 is a ranking function used by search engines',
  'Paris is the capital of France',
  'FAISS searches dense vectors',
  'A cross-encoder scores a query and a document together',
  'The Rhine flows through Basel',
  'Okapi BM25 weighs term frequency and document length',
  'Node-API addons load native code into Node.js',
  'Reranking reorders the candidates of a first stage',
  'SQLite keeps the documents of a collection',
  'Tokenizers split text into word pieces',
];
const ce = await CrossEncoder.load(cross);
const hits = await ce.rerank('what is bm25?', docs, { topK: 10 });
assert.equal(hits.length, 10);
assert.deepEqual([...hits.map((h) => h.index)].sort((a, b) => a - b), [...docs.keys()]);
step(`reranked ${hits.length} documents`);

const be = await BiEncoder.load(bi);
const vecs = await be.embed(docs);
const index = FaissIndex.create(be.dim, 'Flat', { metric: 'ip' });
await index.add(vecs);
const q = await be.embed([docs[2]]);
const found = await index.search(q, 3);
assert.equal(found.ids[0], 2n);
const bm25 = Bm25Index.create();
await bm25.add(docs);
const lexical = await bm25.search('okapi bm25 ranking', 3);
assert.ok([0, 5].includes(lexical.docs[0]));
step('searched FAISS and BM25 indexes');

const dir = mkdtempSync(join(tmpdir(), 'crossrank-smoke-'));
const col = await Collection.create(join(dir, 'col'), { embedder: be, bm25: true, factory: 'Flat' });
await col.add(docs.map((text, i) => ({ id: `d${i}`, text })));
const res = await col.search('what is bm25?', { first: 'hybrid', candidates: 10, rerank: ce, topK: 3 });
assert.equal(res.hits.length, 3);
await col.close();
step('built and searched a hybrid collection (SQLite + BM25 + FAISS)');

const key = 'smoke-key-0123456789abcdef';
writeFileSync(join(dir, 'keys'), `${key}\n`);
const cli = join(dirname(fileURLToPath(import.meta.resolve('crossrank'))), 'cli.js'); // the package's bin
const port = 20000 + (process.pid % 20000);
const server = spawn(process.execPath, [cli, 'serve', '--rerank', cross, '--api-key-file', join(dir, 'keys'), '--port', String(port)], { stdio: 'inherit' });
try {
  let body;
  for (let i = 0; i < 300 && body === undefined; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v1/rerank`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'what is bm25?', documents: docs, top_n: 3 }),
      });
      if (r.status === 503) throw new Error('not ready');
      const text = await r.text();
      assert.equal(r.status, 200, text);
      body = JSON.parse(text);
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  assert.ok(body, 'crossrank serve did not answer');
  assert.equal(body.results.length, 3);
  step('crossrank serve answered /v1/rerank');
} finally {
  server.kill('SIGTERM');
}
console.log('smoke: ok');
