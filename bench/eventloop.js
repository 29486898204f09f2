// bench/eventloop: is the event loop free while a collection's IVF index trains? A collection
// gathers N vectors (bert-tiny-bi embeddings of synthetic texts) until it crosses trainSize, then
// trains IVF on all of them, while searches run against it in a loop. Prints the event loop's delay
// (monitorEventLoopDelay: max, p99, p50) during training beside the same figures for the loop idling
// over the same time, and how many searches completed meanwhile. Goal: max < 50 ms at 200 000.
//   node bench/eventloop.js [--n 200000] [--test]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { BiEncoder, Collection } from '../dist/index.js';
import { arg, sharedPath, smoke } from './common.js';
import { doc, docs } from '../test/fixtures/synthetic-docs.mjs';

const modelDir = sharedPath('models/bert-tiny-bi');
if (!modelDir) {
  console.error('bench/eventloop: ../shared/models/bert-tiny-bi missing (set CROSSRANK_SHARED)');
  process.exit(1);
}
const N = Number(arg('n', smoke ? 20_000 : 200_000));
const nlist = smoke ? 64 : 256;
const ms = (ns) => (ns / 1e6).toFixed(1);
const figures = (h) => `max ${ms(h.max)} ms, p99 ${ms(h.percentile(99))} ms, p50 ${ms(h.percentile(50))} ms`;

const embedder = await BiEncoder.load(modelDir);
const root = mkdtempSync(join(tmpdir(), 'crossrank-bench-eventloop-'));
const col = await Collection.create(join(root, 'col'), { embedder, bm25: false, factory: `IVF${nlist},Flat`, trainSize: N });
const step = Math.min(20_000, N);
for (let a = 0; a < N - 1000; a += step) await col.add(docs(a, Math.min(N - 1000, a + step)), { batchSize: 5000, checkpointEvery: 1_000_000 });

const busy = monitorEventLoopDelay({ resolution: 5 });
let training = true;
let searches = 0;
const searching = (async () => {
  while (training) {
    await col.search(doc((searches * 7919) % (N - 1000)).text, { first: 'dense', candidates: 10, topK: 10 });
    searches++;
  }
})();
busy.enable();
const t0 = performance.now();
await col.add(docs(N - 1000, N), { batchSize: 500 }); // crosses trainSize: trains on all N
const trainMs = performance.now() - t0;
training = false;
await searching;
busy.disable();

// The same span with nothing to do: the machine's own noise floor.
const idle = monitorEventLoopDelay({ resolution: 5 });
idle.enable();
await new Promise((r) => setTimeout(r, Math.min(trainMs, 20_000)));
idle.disable();

console.log(`bench/eventloop: ${N} vectors, IVF${nlist},Flat trained while searching (${(trainMs / 1000).toFixed(1)} s, ${searches} searches completed meanwhile)`);
console.log(`  event-loop delay while training: ${figures(busy)}`);
console.log(`  event-loop delay idle:           ${figures(idle)}`);
console.log(`  goal: max < 50 ms while training: ${busy.max / 1e6 < 50 ? 'met' : 'not met'}`);
await col.close();
await embedder.dispose?.();
rmSync(root, { recursive: true, force: true });
