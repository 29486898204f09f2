/**
 * `crossrank serve`: listen first (GET /health answers 503 while the models load), then load them;
 * API keys from flags, CROSSRANK_API_KEYS and a key file (re-read on SIGHUP); SIGTERM / SIGINT
 * drain: readiness flips to 503, requests in flight finish (or are aborted after the drain
 * timeout), then the process exits 0.
 */
import { readFileSync } from 'node:fs';
import { Collection } from '../collection/collection.js';
import { CrossrankError } from '../errors.js';
import type { DownloadProgress } from '../hub/hub.js';
import { BiEncoder } from '../inference/bi-encoder.js';
import { CrossEncoder } from '../inference/cross-encoder.js';
import { RerankPool } from '../pool/rerank-pool.js';
import { ApiKeys, createServer, type ServerLimits, type ServerTimeouts } from './app.js';
import { isLoopback } from './auth.js';

export interface ServeOptions {
  /** A cross-encoder (model directory or hub id), or several as `name=model` (or bare: named by the model as given); the first is the default. */
  rerank?: string | string[];
  /** A JSON file `{ "rerankers": { "<name>": "<model directory or hub id>", … } }`, added after `rerank`. */
  rerankConfig?: string;
  embedder?: string;
  collection?: string;
  workers?: number;
  host: string;
  port: number;
  autoTruncate: boolean;
  logLevel: string;
  apiKey: string[];
  apiKeyFile?: string;
  insecureNoAuth: boolean;
  metricsPublic: boolean;
  cors: string[];
  limits: Partial<ServerLimits>;
  timeouts: Partial<ServerTimeouts>;
  bodyLimit: number;
  maxConnections: number;
  maxQueue: number;
  maxConcurrent?: number;
  drainTimeoutMs: number;
  /** Hub download progress (the CLI draws bars on a terminal). */
  onDownload?: (p: DownloadProgress) => void;
}

/** Every key the options name: flags, CROSSRANK_API_KEYS, the key file. */
function gatherKeys(o: ServeOptions): string[] {
  const env = process.env.CROSSRANK_API_KEYS;
  return [...o.apiKey, ...(env ? ApiKeys.parseList(env, 'CROSSRANK_API_KEYS') : []), ...(o.apiKeyFile ? ApiKeys.readFile(o.apiKeyFile) : [])];
}

/** The rerankers to load, [name, model] in order: --rerank values, then the config file's. */
function rerankerSpecs(o: ServeOptions): [string, string][] {
  const specs: [string, string][] = (typeof o.rerank === 'string' ? [o.rerank] : (o.rerank ?? [])).map((v) => {
    const at = v.indexOf('=');
    return at > 0 ? [v.slice(0, at), v.slice(at + 1)] : [v, v];
  });
  if (o.rerankConfig) {
    let config: unknown;
    try {
      config = JSON.parse(readFileSync(o.rerankConfig, 'utf8'));
    } catch (e) {
      throw new CrossrankError('ERR_RERANK_CONFIG', `cannot read the reranker config ${o.rerankConfig}: ${(e as Error).message}`);
    }
    const r = (config as { rerankers?: unknown } | null)?.rerankers;
    if (r === null || typeof r !== 'object' || Array.isArray(r) || !Object.values(r).every((m) => typeof m === 'string' && m)) {
      throw new CrossrankError('ERR_RERANK_CONFIG', `${o.rerankConfig} must hold { "rerankers": { "<name>": "<model directory or hub id>", … } }`);
    }
    specs.push(...(Object.entries(r) as [string, string][]));
  }
  const names = specs.map(([n]) => n);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new CrossrankError('ERR_RERANK_CONFIG', `two rerankers are named ${JSON.stringify(dup)}; name them apart with --rerank name=model`);
  if (specs.some(([n, m]) => !n || !m)) throw new CrossrankError('ERR_RERANK_CONFIG', 'a reranker needs a name and a model (--rerank name=model)');
  return specs;
}

export async function serve(o: ServeOptions): Promise<void> {
  const specs = rerankerSpecs(o);
  if (!specs.length && !o.embedder && !o.collection) throw new CrossrankError('ERR_INVALID_ARG_VALUE', 'serve needs at least one of --rerank, --embedder, --collection');
  const keys = new ApiKeys(gatherKeys(o), '--api-key');
  const loopback = o.host === 'localhost' || isLoopback(o.host.replace(/^\[(.*)\]$/, '$1'));
  if (o.apiKeyFile && keys.size === 0) throw new CrossrankError('ERR_API_KEY_FILE', `the API key file ${o.apiKeyFile} holds no key`);
  if (keys.size === 0 && !loopback && !o.insecureNoAuth) {
    throw new CrossrankError(
      'ERR_AUTH_REQUIRED',
      `refusing to listen on ${o.host} without an API key: give --api-key-file, CROSSRANK_API_KEYS or --api-key (or --insecure-no-auth to serve anyone who can reach the port)`,
    );
  }

  let reranker: Promise<CrossEncoder | RerankPool | undefined> = Promise.resolve(undefined);
  const named: Record<string, CrossEncoder | RerankPool> = {};
  let embedder: Promise<BiEncoder | undefined> = Promise.resolve(undefined);
  let collection: Promise<Collection | undefined> = Promise.resolve(undefined);
  const hub = o.onDownload ? { onDownload: o.onDownload } : {};
  const load = async () => {
    // One after another: downloads and ONNX sessions do not compete for the cores.
    for (const [name, model] of specs) {
      named[name] = await (o.workers ? RerankPool.create(model, { workers: o.workers, maxQueue: o.maxQueue, ...hub }) : CrossEncoder.load(model, hub));
    }
    // One reranker: served as before (any `model` name reaches it); several: by name.
    if (specs.length === 1) reranker = Promise.resolve(named[specs[0]![0]]);
    if (o.embedder) embedder = BiEncoder.load(o.embedder, hub);
    await embedder;
    if (o.collection) collection = Collection.open(o.collection, { readOnly: true });
    await collection;
  };
  const loading = load();
  const app = await createServer({
    reranker: loading.then(() => reranker),
    rerankers: loading.then(() => (specs.length > 1 ? named : undefined)),
    embedder: loading.then(() => embedder),
    collection: loading.then(() => collection),
    autoTruncate: o.autoTruncate,
    logger: { level: o.logLevel },
    apiKeys: keys,
    insecureNoAuth: o.insecureNoAuth,
    metricsPublic: o.metricsPublic,
    cors: o.cors,
    limits: o.limits,
    timeouts: o.timeouts,
    bodyLimit: o.bodyLimit,
    maxConnections: o.maxConnections,
    maxQueue: o.maxQueue,
    ...(o.maxConcurrent ? { maxConcurrent: o.maxConcurrent } : {}),
  });

  let loaded = false;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal, inFlight: app.crossrank.inFlight, drainTimeoutMs: o.drainTimeoutMs }, 'shutting down: draining');
    const d = await app.crossrank.drain(o.drainTimeoutMs);
    app.log.info(d, 'drained');
    await app.close();
    if (loaded) {
      const c = await collection;
      for (const r of Object.values(named)) if (r instanceof RerankPool) await r.close();
      await c?.close();
    }
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => {
    if (!o.apiKeyFile) return;
    try {
      app.crossrank.apiKeys.replace(gatherKeys(o), o.apiKeyFile);
      app.log.info({ keys: app.crossrank.apiKeys.size }, 'API keys reloaded');
    } catch (e) {
      app.log.error({ err: e }, 'API key reload failed; keeping the previous keys');
    }
  });

  await app.listen({ host: o.host, port: o.port });
  if (keys.size === 0) {
    app.log.warn(o.insecureNoAuth && !loopback ? `no API key: anyone who can reach ${o.host}:${o.port} may use this server (--insecure-no-auth)` : `no API key configured: answering on the loopback address ${o.host} only`);
  }
  try {
    await app.crossrank.ready;
    loaded = true;
  } catch (e) {
    app.log.fatal({ err: e }, 'loading the models failed');
    await app.close();
    throw e;
  }
  app.log.info('models loaded: ready');
}
