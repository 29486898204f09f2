// The service on a real loopback socket, as an operator exposes it: API keys (401 + WWW-Authenticate,
// /health open, /metrics only when public, rotation), keys absent from logs, /info and 500 answers
// without local paths, CORS off unless asked, unknown routes in the same error shape, and the CLI's
// refusal to listen beyond loopback without a key.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ApiKeys, CrossEncoder, createServer } from '../src/index.js';
import { isLoopback } from '../src/server/auth.js';
import { errorOf } from './helpers.js';
import { get, KEY, listen, OTHER_KEY, post, startCli, until } from './server-helpers.js';
import { requireShared } from './shared.js';

const Q = 'animal testing should be banned';
const DOCS = ['animals feel pain', 'testing cosmetics', 'the weather is nice', 'banned substances'];

/** A pino destination that keeps every line. */
function logSink(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

describe('HTTP server: authentication and what it lets out', () => {
  let ce: CrossEncoder;
  let app: FastifyInstance;
  let url: string;
  const logs = logSink();

  beforeAll(async () => {
    ce = await CrossEncoder.load(requireShared('models/bert-tiny-cross'), { cache: false });
    // A request serializer that logs headers: the redaction must still hide the key.
    app = await createServer({
      reranker: ce,
      apiKeys: [KEY],
      logger: { level: 'trace', stream: logs.stream, serializers: { req: (r: { method: string; url: string; headers: unknown }) => ({ method: r.method, url: r.url, headers: r.headers }) } },
    });
    url = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('without a key or with a wrong one: 401, WWW-Authenticate: Bearer, TEI/Cohere-shaped body; with the key: 200', async () => {
    const none = await post(`${url}/rerank`, { query: Q, texts: DOCS }, null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="crossrank"');
    expect(none.body).toMatchObject({ error_type: 'Unauthorized', code: 'ERR_UNAUTHORIZED' });
    expect(none.body.error).toBe(none.body.message);
    expect(none.body.request_id).toBe(none.headers.get('x-request-id'));

    const wrong = await post(`${url}/v1/rerank`, { query: Q, documents: DOCS }, OTHER_KEY);
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="crossrank", error="invalid_token"');
    expect(wrong.body.error).toBe('invalid API key');
    // A prefix of the right key, and the right key under another scheme, are wrong keys too.
    expect((await post(`${url}/rerank`, { query: Q, texts: DOCS }, KEY.slice(0, -1))).status).toBe(401);
    const basic = await fetch(`${url}/rerank`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${KEY}` }, body: JSON.stringify({ query: Q, texts: DOCS }) });
    expect(basic.status).toBe(401);

    const ok = await post(`${url}/rerank`, { query: Q, texts: DOCS });
    expect(ok.status).toBe(200);
    expect(ok.body.map((r: { index: number }) => r.index)).toEqual((await ce.rerank(Q, DOCS)).map((r) => r.index));
  });

  it('GET /health is open; /info and /metrics need the key (unless metricsPublic); unknown routes answer in the same shape', async () => {
    expect((await get(`${url}/health`, null)).body).toEqual({ status: 'ok' });
    expect((await get(`${url}/info`, null)).status).toBe(401);
    expect((await get(`${url}/metrics`, null)).status).toBe(401);
    expect((await get(`${url}/metrics`)).text).toContain('crossrank_auth_failures_total');
    const lost = await get(`${url}/no/such/route`);
    expect(lost.status).toBe(404);
    expect(lost.body).toMatchObject({ error_type: 'NotFound', code: 'ERR_NOT_FOUND', error: 'no route GET /no/such/route' });
    expect(lost.body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await get(`${url}/no/such/route`, null)).status).toBe(401);  // no route discovery without a key

    const pub = await createServer({ reranker: ce, apiKeys: [KEY], metricsPublic: true, logger: false });
    try {
      const u = await listen(pub);
      expect((await get(`${u}/metrics`, null)).status).toBe(200);
      expect((await get(`${u}/info`, null)).status).toBe(401);
    } finally {
      await pub.close();
    }
  });

  it('keys can be replaced while serving; a key that is too short or holds spaces is refused, naming where it came from but not the key', async () => {
    const keys = new ApiKeys([KEY]);
    const s = await createServer({ reranker: ce, apiKeys: keys, logger: false });
    try {
      const u = await listen(s);
      expect((await post(`${u}/rerank`, { query: Q, texts: DOCS }, OTHER_KEY)).status).toBe(401);
      s.crossrank.apiKeys.replace([OTHER_KEY]);
      expect((await post(`${u}/rerank`, { query: Q, texts: DOCS }, OTHER_KEY)).status).toBe(200);
      expect((await post(`${u}/rerank`, { query: Q, texts: DOCS }, KEY)).status).toBe(401);
    } finally {
      await s.close();
    }
    const short = errorOf(() => new ApiKeys(['abc123']));
    expect(short.code).toBe('ERR_INVALID_API_KEY');
    expect(short.message).toContain('apiKeys[0]');
    expect(short.message).not.toContain('abc123');
    expect(errorOf(() => new ApiKeys(['a key with spaces inside it'])).code).toBe('ERR_INVALID_API_KEY');
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-keys-'));
    writeFileSync(join(dir, 'keys'), `# comment\n${KEY}\n\n${OTHER_KEY}\n`);
    expect(ApiKeys.readFile(join(dir, 'keys'))).toEqual([KEY, OTHER_KEY]);
    writeFileSync(join(dir, 'bad'), `${KEY}\nshort\n`);
    expect(errorOf(() => ApiKeys.readFile(join(dir, 'bad'))).message).toContain('line 2');
    expect(JSON.stringify({ k: new ApiKeys([KEY]) })).toBe('{"k":"[1 API keys]"}');
  });

  it('the key never reaches the log, even with a serializer that logs headers', async () => {
    await post(`${url}/rerank`, { query: Q, texts: DOCS });
    await post(`${url}/rerank`, { query: Q, texts: DOCS }, OTHER_KEY);
    await until(() => logs.text().includes('"statusCode":401'));
    expect(logs.text()).toContain('"authorization":"[redacted]"');
    expect(logs.text()).not.toContain(KEY);
    expect(logs.text()).not.toContain(OTHER_KEY);
  });

  it('/info names the model, dtype, limit and weights hash, never a local path', async () => {
    const info = await get(`${url}/info`);
    expect(info.status).toBe(200);
    const sha = createHash('sha256').update(readFileSync(ce.modelPath)).digest('hex');
    expect(info.body).toMatchObject({ model_id: 'bert-tiny-cross', model_dtype: 'fp32', model_sha256: sha, max_input_length: ce.maxLength });
    expect(info.text).not.toContain(requireShared('models'));
    expect(info.text).not.toMatch(/"\/[^"]*\//);  // no absolute path anywhere
  });

  it('a 500 answers a request id and a generic message; the details (with their path) go to the log under that id', async () => {
    const secret = `${requireShared('models/bert-tiny-cross')}/onnx/model.onnx: session lost`;
    const spy = vi.spyOn(ce, 'rerank').mockRejectedValueOnce(new Error(secret));
    try {
      const res = await post(`${url}/rerank`, { query: Q, texts: DOCS });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ code: 'ERR_INTERNAL', error_type: 'Backend' });
      expect(res.body.error).toBe(`internal error (see the log, request ${res.body.request_id})`);
      expect(res.text).not.toContain(requireShared('models'));
      await until(() => logs.text().includes(secret));
      const line = logs.text().split('\n').find((l) => l.includes(secret))!;
      expect(JSON.parse(line).reqId).toBe(res.body.request_id);
    } finally {
      spy.mockRestore();
    }
  });

  it('CORS is off by default; with cors: an origin, that origin (and only it) gets a preflight answer', async () => {
    const pre = (u: string, origin: string) =>
      fetch(`${u}/rerank`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    const off = await pre(url, 'https://app.example');
    expect(off.headers.get('access-control-allow-origin')).toBeNull();
    const withCors = await createServer({ reranker: ce, apiKeys: [KEY], cors: 'https://app.example', logger: false });
    try {
      const u = await listen(withCors);
      const yes = await pre(u, 'https://app.example');
      expect(yes.status).toBe(204);
      expect(yes.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(yes.headers.get('access-control-allow-headers')).toContain('authorization');
      const no = await pre(u, 'https://evil.example');
      expect(no.headers.get('access-control-allow-origin')).toBeNull();
      const res = await fetch(`${u}/rerank`, { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify({ query: Q, texts: DOCS }) });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    } finally {
      await withCors.close();
    }
  });

  it('loopback addresses are told apart from others (a keyless server refuses requests on the others)', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.1', '0.0.0.0', '::', '192.168.1.1', '::ffff:10.0.0.1', '127.0.0.1.example']) expect(isLoopback(a)).toBe(false);
  });

  it('`crossrank serve` refuses a non-loopback address without a key, says it serves loopback only without one, and never logs keys', async () => {
    const model = requireShared('models/bert-tiny-cross');
    const cli = join(import.meta.dirname, '../dist/cli.js');
    const { spawnSync } = await import('node:child_process');
    const refused = spawnSync(process.execPath, [cli, 'serve', '--rerank', model, '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', timeout: 30_000 });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('ERR_AUTH_REQUIRED: refusing to listen on 0.0.0.0 without an API key');

    const open = await startCli(['--rerank', model]);
    try {
      await until(() => open.output().includes('no API key configured: answering on the loopback address 127.0.0.1 only'));
    } finally {
      open.child.kill('SIGTERM');
      await open.exit;
    }

    const dir = mkdtempSync(join(tmpdir(), 'crossrank-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `${KEY}\n`);
    const envKey = 'env-key-0123456789abcdefgh';
    const s = await startCli(['--rerank', model, '--api-key-file', file, '--log-level', 'trace'], { CROSSRANK_API_KEYS: envKey });
    try {
      await until(async () => (await get(`${s.url}/health`, null)).status === 200);
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, KEY)).status).toBe(200);
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, envKey)).status).toBe(200);
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, OTHER_KEY)).status).toBe(401);
      // SIGHUP re-reads the file: the new key works, the removed one no longer does; the env key stays.
      writeFileSync(file, `${OTHER_KEY}\n`);
      s.child.kill('SIGHUP');
      await until(() => s.output().includes('API keys reloaded'));
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, OTHER_KEY)).status).toBe(200);
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, KEY)).status).toBe(401);
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, envKey)).status).toBe(200);
      // A broken file keeps the previous keys.
      writeFileSync(file, 'short\n');
      s.child.kill('SIGHUP');
      await until(() => s.output().includes('API key reload failed'));
      expect((await post(`${s.url}/rerank`, { query: Q, texts: DOCS }, OTHER_KEY)).status).toBe(200);
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    }
    expect(s.output()).toContain('"statusCode":401');
    for (const k of [KEY, OTHER_KEY, envKey]) expect(s.output()).not.toContain(k);
  }, 120_000);
});
