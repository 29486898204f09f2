// bench/load: `crossrank serve` (a child process, with an API key) under --connections clients for
// --duration seconds of mixed /v1/rerank, /v2/rerank, /rerank and /search requests, --bad of them
// malformed or over a limit, after --warmup seconds of the same load. Checks: no 5xx, no connection
// errors, every answer the status it must be; prints p50 / p99 latency, throughput and the server's
// RSS growth over the run (from its RSS after the warm-up). Then the same load again while
// --slowloris sockets trickle headers or a body a byte a second: the server's timeouts must cut
// every one of them off while the normal clients keep being answered (their p99 printed beside
// the clean run's).
//   node bench/load.js [--duration 60] [--warmup 20] [--connections 50] [--bad 0.1] [--slowloris 200] [--workers N] [--model DIR] [--test]
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collection, loadBeir } from '../dist/index.js';
import { arg, sharedPath, smoke } from './common.js';
import { byClass, requestMix, rssBytes, runLoad, startNode, statusLine } from './load-common.js';

const duration = Number(arg('duration', smoke ? 4 : 60));
const warmup = Number(arg('warmup', smoke ? 2 : 20));
const connections = Number(arg('connections', smoke ? 10 : 50));
const bad = Number(arg('bad', 0.1));
const slowloris = Number(arg('slowloris', smoke ? 20 : 200));
const workers = arg('workers', null);
const model = arg('model', sharedPath('models/bert-tiny-cross'));
const beir = sharedPath('fixtures/ir/beir-arguana');
if (!model || !beir) {
  console.log('bench/load: ../shared not found (set CROSSRANK_SHARED)');
  process.exit(1);
}
// Smoke runs use short connection timeouts so the slowloris sockets are cut within seconds.
const headersMs = smoke ? 1000 : 10_000;
const receiveMs = smoke ? 2000 : 30_000;

const corpus = loadBeir(beir);
const docs = corpus.docs.slice(0, 3000).map((d) => `${d.title} ${d.text}`);
const queries = corpus.queries.map((q) => q.text);
const dir = mkdtempSync(join(tmpdir(), 'crossrank-load-'));
const col = await Collection.create(join(dir, 'col'), { bm25: true });
await col.add(docs.map((text, i) => ({ id: `d${i}`, text })));
await col.close();

const node = await startNode([
  '--rerank', model,
  '--collection', join(dir, 'col'),
  '--headers-timeout-ms', String(headersMs),
  '--receive-timeout-ms', String(receiveMs),
  ...(workers ? ['--workers', workers] : []),
]);
console.log(`bench/load: ${connections} clients × ${duration} s, ${Math.round(bad * 100)} % malformed or over-limit, model ${model}${workers ? `, ${workers} workers` : ', in-process'}`);

/** One load run, sampling the server's RSS every second. */
async function run(label, seconds = duration) {
  const mix = requestMix({ queries, docs, bad, search: true });
  const warm = rssBytes(node.pid);
  const rss = [warm];
  const sampler = setInterval(() => rss.push(rssBytes(node.pid)), 1000);
  const result = await runLoad({ url: node.url, connections, duration: seconds, requests: mix.requests });
  clearInterval(sampler);
  const c = byClass(result);
  const growth = (Math.max(...rss) / warm - 1) * 100;
  const unexpected = Object.values(mix.tally.unexpected).reduce((a, b) => a + b, 0);
  console.log(`${label}: ${result.requests.total} requests, ${result.requests.average.toFixed(1)} requests/s; latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
  console.log(`  statuses ${statusLine(result)}; 5xx ${c['5xx']}, connection errors ${result.errors}, timeouts ${result.timeouts}, unexpected statuses ${unexpected}${unexpected ? ` ${JSON.stringify(mix.tally.unexpected)}` : ''}`);
  console.log(`  server RSS ${(warm / 2 ** 20).toFixed(0)} MiB at the start, peak ${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB: growth ${growth.toFixed(1)} %`);
  return { result, c, unexpected, growth };
}

/**
 * Slowloris: `n` sockets, half trickling an endless header, half a body far shorter than its
 * Content-Length, one byte a second each. A socket the server closes is counted (with how long it
 * lived) and replaced, so `n` stay open until the end.
 */
function attack(n, port) {
  const cuts = [];
  const sockets = new Map();  // socket → when it connected
  let stopped = false;
  const open = (i) => {
    if (stopped) return;
    const s = connect(port, '127.0.0.1');
    const t0 = Date.now();
    let timer;
    sockets.set(s, t0);
    s.on('connect', () => {
      if (i % 2) s.write('POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
      else s.write('POST /v1/rerank HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => s.writable && s.write(i % 2 ? ' ' : 'X'), 1000);
    });
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
      if (!stopped) {
        cuts.push(Date.now() - t0);
        open(i);
      }
    });
  };
  for (let i = 0; i < n; i++) open(i);
  return {
    stop() {
      stopped = true;
      const oldest = Math.max(0, ...[...sockets.values()].map((t0) => Date.now() - t0));
      for (const s of sockets.keys()) s.destroy();
      return { cuts, oldest };
    },
  };
}

const warm = await run(`warm-up ${warmup} s`, warmup);
const clean = await run('clean run');
const port = Number(new URL(node.url).port);
const loris = attack(slowloris, port);
const attacked = await run(`with ${slowloris} slowloris sockets`);
const { cuts, oldest } = loris.stop();
cuts.sort((a, b) => a - b);
const longest = Math.max(cuts.at(-1) ?? 0, oldest);
// Node checks the timeouts once a second: a socket may outlive its timeout by that much.
const cutInTime = cuts.length > 0 && longest <= receiveMs + 2500;
console.log(`  slowloris: ${cuts.length} sockets cut off by the server (lived median ${((cuts[Math.floor(cuts.length / 2)] ?? 0) / 1000).toFixed(1)} s, longest ${(longest / 1000).toFixed(1)} s counting those still open; headers timeout ${headersMs / 1000} s, receive timeout ${receiveMs / 1000} s)`);
console.log(`normal clients' p99: ${clean.result.latency.p99} ms clean, ${attacked.result.latency.p99} ms under slowloris (p50 ${clean.result.latency.p50} → ${attacked.result.latency.p50} ms)`);
const failures = [warm, clean, attacked].reduce((n, r) => n + r.c['5xx'] + r.result.errors + r.unexpected, 0);
console.log(`checks: 5xx + connection errors + unexpected statuses = ${failures}; every slowloris socket cut within its timeout: ${cutInTime ? 'yes' : 'NO'}; RSS growth after the warm-up ${clean.growth.toFixed(1)} % clean, ${attacked.growth.toFixed(1)} % attacked`);

node.child.kill('SIGTERM');
const code = await node.exit;
rmSync(dir, { recursive: true, force: true });
if (code !== 0) console.log(`server exit code ${code}:\n${node.output()}`);
process.exit(failures || code !== 0 || !cutInTime ? 1 : 0);
