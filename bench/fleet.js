// bench/fleet: nginx (Debian's package, run as a foreground child with its own prefix and config on
// loopback ports, not the system service) in front of --nodes `crossrank serve` nodes, using
// deploy/nginx/crossrank.conf with its ports rewritten. Three runs of mixed /v1/rerank, /v2/rerank
// and /rerank requests: one node alone (direct), the fleet through nginx, and the fleet for
// --duration seconds while one node is SIGKILLed (and started again later) and another is
// restarted with SIGTERM (drain, exit, start). Prints each run's throughput and p50/p99, the
// client requests that failed (non-2xx or connection errors) and the retries nginx made.
//   node bench/fleet.js [--duration 60] [--connections 50] [--nodes 3] [--model DIR] [--test]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBeir } from '../dist/index.js';
import { arg, repoRoot, sharedPath, smoke } from './common.js';
import { byClass, freePort, requestMix, runLoad, startNode, statusLine } from './load-common.js';

const duration = Number(arg('duration', smoke ? 8 : 60));
const baseline = Number(arg('baseline', smoke ? 3 : 20));
const connections = Number(arg('connections', smoke ? 10 : 50));
const count = Number(arg('nodes', 3));
const model = arg('model', sharedPath('models/bert-tiny-cross'));
const beir = sharedPath('fixtures/ir/beir-arguana');
if (!model || !beir) {
  console.log('bench/fleet: ../shared not found (set CROSSRANK_SHARED)');
  process.exit(1);
}
const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
if (!nginxBin) {
  console.log('bench/fleet: nginx not found; install Debian\'s package (scripts/setup.sh does: apt-get install nginx)');
  process.exit(1);
}

const corpus = loadBeir(beir);
const docs = corpus.docs.slice(0, 3000).map((d) => `${d.title} ${d.text}`);
const queries = corpus.queries.map((q) => q.text);
const nodeArgs = ['--rerank', model, '--drain-timeout-ms', '10000'];

// Nodes first, each on a port of its own that a restart reuses.
const ports = [];
for (let i = 0; i < count; i++) ports.push(await freePort());
const nodes = await Promise.all(ports.map((port) => startNode(nodeArgs, { port })));

// nginx: the shipped config with this run's ports, inside a minimal main config in a temp prefix.
const prefix = mkdtempSync(join(tmpdir(), 'crossrank-nginx-'));
chmodSync(prefix, 0o755);  // nginx workers run as an unprivileged user
const port = await freePort();
const shipped = readFileSync(join(repoRoot, 'deploy/nginx/crossrank.conf'), 'utf8');
const serverLine = /^(\s*)server 127\.0\.0\.1:\d+ (.*);$/m.exec(shipped);
const site = shipped
  .replace(/^\s*server 127\.0\.0\.1:\d+ .*;\n/gm, '')
  .replace('least_conn;\n', `least_conn;\n${ports.map((p) => `${serverLine[1]}server 127.0.0.1:${p} ${serverLine[2]};\n`).join('')}`)
  .replace(/listen 127\.0\.0\.1:\d+;/, `listen 127.0.0.1:${port};`);
writeFileSync(join(prefix, 'crossrank.conf'), site);
writeFileSync(
  join(prefix, 'nginx.conf'),
  `worker_processes 2;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
    log_format upstreams '$status $upstream_status';
    access_log ${prefix}/access.log upstreams;
    client_body_temp_path ${prefix}/client_body;
    proxy_temp_path ${prefix}/proxy;
    fastcgi_temp_path ${prefix}/fastcgi;
    uwsgi_temp_path ${prefix}/uwsgi;
    scgi_temp_path ${prefix}/scgi;
    include ${prefix}/crossrank.conf;
}
`,
);
const nginxArgs = ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf')];
const check = spawnSync(nginxBin, ['-t', ...nginxArgs], { encoding: 'utf8' });
console.log(`nginx -t: ${check.status === 0 ? 'configuration ok' : `FAILED\n${check.stderr}`}`);
if (check.status !== 0) process.exit(1);
const nginx = spawn(nginxBin, [...nginxArgs, '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
const front = `http://127.0.0.1:${port}`;
for (let i = 0; !(await fetch(`${front}/health`).then((r) => r.status === 200, () => false)); i++) {
  if (i > 100) throw new Error('nginx did not answer');
  await new Promise((r) => setTimeout(r, 100));
}
console.log(`bench/fleet: nginx ${front} in front of ${count} nodes (${ports.join(', ')}), ${connections} clients, model ${model}`);

const failedOf = (result) => byClass(result)['4xx'] + byClass(result)['5xx'] + result.errors;
const describe = (label, result) => {
  console.log(`${label}: ${result.requests.total} requests, ${result.requests.average.toFixed(1)} requests/s; p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms; statuses ${statusLine(result)}; connection errors ${result.errors}; failed ${failedOf(result)}`);
};
const load = (url, seconds) => runLoad({ url, connections, duration: seconds, requests: requestMix({ queries, docs, bad: 0, search: false }).requests });

const single = await load(nodes[0].url, baseline);
describe(`one node, direct, ${baseline} s`, single);
const fleet = await load(front, baseline);
describe(`fleet of ${count} through nginx, ${baseline} s`, fleet);

// Faults during the long run: SIGKILL node 0 at 25 %, start it again at 50 %; SIGTERM node 1 at 60 %, start it again once it has exited.
const events = [];
const at = (share, fn) => new Promise((resolve) => setTimeout(() => resolve(fn()), duration * 1000 * share));
const t0 = Date.now();
const stamp = (what) => events.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
const faults = Promise.all([
  at(0.25, async () => {
    nodes[0].child.kill('SIGKILL');
    stamp(`node ${ports[0]} SIGKILL (exit ${await nodes[0].exit})`);
  }).then(() => at(0.25, async () => {
    stamp(`node ${ports[0]} starting`);
    nodes[0] = await startNode(nodeArgs, { port: ports[0] });
    stamp(`node ${ports[0]} ready`);
  })),
  at(0.6, async () => {
    nodes[1].child.kill('SIGTERM');
    stamp(`node ${ports[1]} SIGTERM`);
    stamp(`node ${ports[1]} drained and exited (code ${await nodes[1].exit})`);
    nodes[1] = await startNode(nodeArgs, { port: ports[1] });
    stamp(`node ${ports[1]} ready again`);
  }),
]);
const faulty = await load(front, duration);
await faults;
describe(`fleet through nginx, ${duration} s with faults`, faulty);
console.log(`  faults: ${events.join('; ')}`);
const log = readFileSync(join(prefix, 'access.log'), 'utf8').split('\n').filter(Boolean);
const retried = log.filter((l) => l.includes(',') || l.includes(' : ')).length;
console.log(`  nginx: ${log.length} requests logged over the three runs, ${retried} passed to a second node (a failed node's connection refused or reset, or its 503 while draining or loading)`);
console.log(`throughput: fleet of ${count} ${fleet.requests.average.toFixed(1)} requests/s vs one node ${single.requests.average.toFixed(1)} requests/s (${(fleet.requests.average / single.requests.average).toFixed(2)}×; the nodes share this machine's cores)`);
console.log(`checks: failed client requests with faults = ${failedOf(faulty)} of ${faulty.requests.total}`);

nginx.kill('SIGQUIT');
await new Promise((r) => nginx.on('exit', r));
await Promise.all(nodes.map((n) => {
  n.child.kill('SIGTERM');
  return n.exit;
}));
rmSync(prefix, { recursive: true, force: true });
process.exit(failedOf(faulty) || failedOf(fleet) || failedOf(single) ? 1 : 0);
