// Shared by bench/load.js and bench/fleet.js: `crossrank serve` nodes as child processes, their
// RSS, and an autocannon request mix (good requests on every route plus a share of malformed or
// over-limit ones, each checked against the status it must get).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { repoRoot } from './common.js';

export const KEY = 'bench-key-0123456789abcdef';

/** A free loopback port (bound, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const nodes = new Set();
process.on('exit', () => {
  for (const c of nodes) c.kill('SIGKILL');
});

/**
 * Start `crossrank serve` (with the bench key, on `port` or a free one) and wait until /health
 * answers 200. Resolves with { child, url, port, pid, output(), exit }.
 */
export async function startNode(args, { port, env = {} } = {}) {
  port ??= await freePort();
  const child = spawn(process.execPath, [join(repoRoot, 'dist/cli.js'), 'serve', '--port', String(port), '--api-key', KEY, '--log-level', 'warn', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  nodes.add(child);
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => {
    nodes.delete(child);
    resolve(code ?? signal);
  }));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/health`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (i > 600 || child.exitCode !== null) throw new Error(`node at ${url} never became ready: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, port, pid: child.pid, output: () => out, exit };
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
const window = (docs, n) => {
  const a = Math.floor(Math.random() * (docs.length - n));
  return docs.slice(a, a + n);
};

/**
 * The request mix: /v1/rerank, /v2/rerank, /rerank (and /search when `search`) with 20 documents,
 * and a `bad` share of requests that must be refused: malformed JSON (400), a wrong type (422),
 * 1001 documents (413), a pair over the model limit with truncate: false (413), top_n over its
 * maximum (422), no key (401). `tally` counts each kind and every answer that was not the one it
 * had to be.
 */
export function requestMix({ queries, docs, bad, search }) {
  const json = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` };
  const long = docs.find((d) => d.length > 3000).repeat(2);
  const good = [
    () => ({ kind: '/v1/rerank', status: 200, path: '/v1/rerank', body: { query: pick(queries), documents: window(docs, 20), top_n: 5 } }),
    () => ({ kind: '/v2/rerank', status: 200, path: '/v2/rerank', body: { model: 'x', query: pick(queries), documents: window(docs, 20), top_n: 5 } }),
    () => ({ kind: '/rerank', status: 200, path: '/rerank', body: { query: pick(queries), texts: window(docs, 20) } }),
    ...(search ? [() => ({ kind: '/search', status: 200, path: '/search', body: { query: pick(queries), candidates: 20, top_k: 5 } })] : []),
  ];
  const wrong = [
    () => ({ kind: 'malformed', status: 400, path: '/rerank', raw: '{"query": "q", "texts": ["a",' }),
    () => ({ kind: 'wrong type', status: 422, path: '/v1/rerank', body: { query: 7, documents: ['a'] } }),
    () => ({ kind: 'too many', status: 413, path: '/rerank', body: { query: 'q', texts: new Array(1001).fill('x') } }),
    () => ({ kind: 'too long', status: 413, path: '/rerank', body: { query: pick(queries), texts: [long], truncate: false } }),
    () => ({ kind: 'top_n', status: 422, path: '/v2/rerank', body: { query: 'q', documents: ['a'], top_n: 5000 } }),
    () => ({ kind: 'no key', status: 401, path: '/v1/rerank', body: { query: 'q', documents: ['a'] }, noKey: true }),
  ];
  const tally = { sent: {}, unexpected: {} };
  const requests = [
    {
      method: 'POST',
      setupRequest(req, context) {
        const r = (Math.random() < bad ? pick(wrong) : pick(good))();
        context.expect = r;
        tally.sent[r.kind] = (tally.sent[r.kind] ?? 0) + 1;
        const headers = r.noKey ? { 'content-type': 'application/json' } : json;
        return { ...req, method: 'POST', path: r.path, headers, body: r.raw ?? JSON.stringify(r.body) };
      },
      onResponse(status, _body, context) {
        const r = context.expect;
        if (r && status !== r.status) {
          const k = `${r.kind}: ${status}`;
          tally.unexpected[k] = (tally.unexpected[k] ?? 0) + 1;
        }
      },
    },
  ];
  return { requests, tally };
}

/** Run autocannon against `url` with the mix; resolves with its result. */
export function runLoad({ url, connections, duration, requests }) {
  return autocannon({ url, connections, duration, requests, timeout: 30 });
}

/** Count answers by status class from autocannon's statusCodeStats. */
export function byClass(result) {
  const out = { '2xx': 0, '4xx': 0, '5xx': 0 };
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) out[`${String(code)[0]}xx`] = (out[`${String(code)[0]}xx`] ?? 0) + Number(count);
  return out;
}

export function statusLine(result) {
  return Object.entries(result.statusCodeStats ?? {}).map(([c, { count }]) => `${c}×${count}`).join(' ');
}
