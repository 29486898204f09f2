// bench/server: what the HTTP service adds to a rerank. The same reranker answers the same requests
// in-process (`ce.rerank`) and through `POST /rerank` on a loopback socket (keep-alive fetch, JSON
// both ways), interleaved; per-request medians and their difference, then throughput with
// --concurrency requests in flight each way. The model is bert-tiny (a small compute cost makes the
// service's own cost visible); --model takes any other directory.
//   node bench/server.js [--requests 200] [--docs 20] [--concurrency 8] [--model DIR] [--test]
import { createServer, CrossEncoder, loadBeir } from '../dist/index.js';
import { arg, smoke, sharedPath } from './common.js';

const requests = Number(arg('requests', smoke ? 10 : 200));
const nDocs = Number(arg('docs', 20));
const concurrency = Number(arg('concurrency', smoke ? 2 : 8));
const model = arg('model', sharedPath('models/bert-tiny-cross'));
const beir = sharedPath('fixtures/ir/beir-arguana');
if (!model || !beir) {
  console.log('bench/server: ../shared not found (set CROSSRANK_SHARED)');
  process.exit(smoke ? 1 : 0);
}
const corpus = loadBeir(beir);
const texts = corpus.docs.slice(0, 2000).map((d) => `${d.title} ${d.text}`);
const queries = corpus.queries.slice(0, requests).map((q) => q.text);
// Request i: query i against a window of documents (the score cache is off, so every pair is scored).
const docsOf = (i) => texts.slice((i * 7) % (texts.length - nDocs), ((i * 7) % (texts.length - nDocs)) + nDocs);

const ce = await CrossEncoder.load(model, { cache: false });
const app = await createServer({ reranker: ce, logger: false, maxClientBatchSize: Math.max(1000, nDocs) });
const url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/rerank`;
const viaHttp = async (i) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: queries[i], texts: docsOf(i) }) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return res.json();
};
const inProcess = (i) => ce.rerank(queries[i], docsOf(i));

// Same answers both ways.
const a = await viaHttp(0);
const b = await inProcess(0);
if (JSON.stringify(a.map((r) => r.index)) !== JSON.stringify(b.map((r) => r.index))) throw new Error('HTTP and in-process rankings differ');

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const lat = { inProcess: [], http: [] };
for (let i = 0; i < Math.min(5, requests); i++) {
  await inProcess(i);
  await viaHttp(i);
}
for (let i = 0; i < requests; i++) {
  for (const [k, fn] of [['inProcess', inProcess], ['http', viaHttp]]) {
    const t0 = performance.now();
    await fn(i);
    lat[k].push(performance.now() - t0);
  }
}
const throughput = async (fn) => {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i; (i = next++) < requests;) await fn(i);
  }));
  return requests / ((performance.now() - t0) / 1000);
};
const rpsIn = await throughput(inProcess);
const rpsHttp = await throughput(viaHttp);
await app.close();

const mi = median(lat.inProcess);
const mh = median(lat.http);
console.log(`bench/server: ${requests} requests × ${nDocs} ArguAna documents, model ${model}`);
console.log(`  one at a time: in-process ${mi.toFixed(2)} ms, HTTP ${mh.toFixed(2)} ms per request (median) → the service adds ${(mh - mi).toFixed(2)} ms (${(mh / mi).toFixed(2)}×)`);
console.log(`  ${concurrency} in flight: in-process ${rpsIn.toFixed(1)} requests/s, HTTP ${rpsHttp.toFixed(1)} requests/s (${(rpsHttp / rpsIn).toFixed(3)}×)`);
