// Runs benchmarks, each in its own process so one cannot warm or pollute another.
//   node bench/run.js [tokenize rerank throughput search scale bm25 planner cascade server load fleet eventloop] [--test] [other flags passed on]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './common.js';

const all = ['tokenize', 'rerank', 'throughput', 'search', 'scale', 'bm25', 'planner', 'cascade', 'server', 'load', 'fleet', 'eventloop'];
const names = process.argv.slice(2).filter((a) => all.includes(a));
const flags = process.argv.slice(2).filter((a) => !all.includes(a));
let failed = 0;
for (const name of names.length ? names : all) {
  console.log(`\n=== bench/${name} ${flags.join(' ')}`);
  const r = spawnSync(process.execPath, [join(repoRoot, 'bench', `${name}.js`), ...flags], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
