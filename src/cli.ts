#!/usr/bin/env node
/**
 * crossrank command line: build a collection from a BEIR-format corpus and run two-stage searches
 * over it (first stage BM25 / dense / hybrid, then an optional cross-encoder rerank).
 */
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { Collection, type VerifyProblem, type VerifyReport } from './collection/collection.js';
import { loadBeir } from './eval/datasets.js';
import { evaluate, type Scores } from './eval/evaluate.js';
import { CrossEncoder } from './inference/cross-encoder.js';
import type { DownloadProgress } from './hub/hub.js';
import { serve } from './server/serve.js';

// Results go to stdout; diagnostics (among them @huggingface/hub's "Downloading …" lines) to stderr.
console.debug = (...args: unknown[]) => console.error(...args);

/** A progress bar on a terminal; silent when stderr is a pipe or file. */
function progress(label: string): { update(done: number, total: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Hub download progress: one bar per file, on a terminal only. */
function downloads(): { onDownload(p: DownloadProgress): void; stop(): void } {
  let file = '';
  let bar = progress('');
  return {
    onDownload(p) {
      if (p.file !== file) {
        bar.stop();
        file = p.file;
        bar = progress(`downloading ${p.file}`);
      }
      if (p.total) bar.update(p.loaded, p.total);
    },
    stop: () => bar.stop(),
  };
}

async function loadReranker(model: string | undefined): Promise<CrossEncoder | undefined> {
  if (!model) return undefined;
  const d = downloads();
  try {
    return await CrossEncoder.load(model, { onDownload: d.onDownload });
  } finally {
    d.stop();
  }
}

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

const program = new Command();
program.name('crossrank').description('Two-stage retrieval with cross-encoder reranking');

program
  .command('index')
  .description('build (or update) a collection from a BEIR corpus directory (corpus.jsonl[.gz])')
  .argument('<beir-dir>', 'BEIR dataset directory')
  .argument('<collection-dir>', 'where the collection lives')
  .option('--embedder <model>', 'bi-encoder for a dense index: a model directory or a Hugging Face id')
  .option('--factory <string>', 'FAISS index_factory string', 'Flat')
  .option('--no-bm25', 'skip the BM25 index')
  .action(async (beirDir: string, dir: string, o: { embedder?: string; factory: string; bm25: boolean }) => {
    const data = loadBeir(beirDir);
    let col: Collection;
    try {
      col = await Collection.open(dir);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_COLLECTION_NOT_FOUND') throw e;
      const d = downloads();
      try {
        col = await Collection.create(dir, { bm25: o.bm25, factory: o.factory, ...(o.embedder ? { embedder: { model: o.embedder, options: { onDownload: d.onDownload } } } : {}) });
      } finally {
        d.stop();
      }
    }
    const t0 = performance.now();
    const bar = progress('indexing');
    const r = await col.add(
      data.docs.map((d) => ({ id: d.id, text: `${d.title} ${d.text}`.trim(), metadata: { title: d.title } })),
      { onProgress: (done, total) => bar.update(done, total) },
    );
    bar.stop();
    console.log(`${dir}: ${col.size} documents (added ${r.added}, replaced ${r.replaced}, unchanged ${r.skipped}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await col.close();
  });

program
  .command('search')
  .description('two-stage search: first stage, then (with --rerank) a cross-encoder')
  .argument('<collection-dir>')
  .argument('<query...>')
  .option('--first <stage>', 'bm25 | dense | hybrid')
  .option('--candidates <n>', 'first-stage candidates', int('--candidates'), 100)
  .option('--top-k <n>', 'results to print', int('--top-k'), 10)
  .option('--rerank <model>', 'cross-encoder: a model directory or a Hugging Face id')
  .option('--budget <ms>', 'latency budget: rerank only what fits', Number)
  .action(async (dir: string, words: string[], o: { first?: 'bm25' | 'dense' | 'hybrid'; candidates: number; topK: number; rerank?: string; budget?: number }) => {
    const col = await Collection.open(dir, { readOnly: true, refreshIntervalMs: 0 });
    const ce = await loadReranker(o.rerank);
    const res = await col.search(words.join(' '), {
      candidates: o.candidates,
      topK: o.topK,
      ...(o.first ? { first: o.first } : {}),
      ...(ce ? { rerank: ce } : {}),
      ...(o.budget ? { latencyBudgetMs: o.budget } : {}),
    });
    for (const h of res.hits) {
      const moved = h.firstStageRank - h.rank;
      const arrow = moved > 0 ? `↑${moved}` : moved < 0 ? `↓${-moved}` : '=';
      console.log(`${String(h.rank).padStart(3)}. ${h.score.toFixed(4)}  ${arrow.padEnd(4)} (was ${h.firstStageRank})  ${h.id}  ${h.text.slice(0, 80).replace(/\s+/g, ' ')}`);
    }
    const t = res.timings;
    console.log(`first stage ${res.first}: ${t.firstStageMs.toFixed(1)} ms; rerank: ${t.rerankMs.toFixed(1)} ms; total ${t.totalMs.toFixed(1)} ms`);
    if (res.plan) console.log(`latency plan: reranked ${res.plan.rerank} of ${res.plan.candidates} (predicted ${res.plan.predictedMs.toFixed(1)} ms)`);
    await col.close();
  });

program
  .command('evaluate')
  .description("nDCG@10, MRR@10 and recall of a collection on a BEIR dataset's judged queries, first stage and reranked (drops the query's own id, as BEIR does)")
  .argument('<beir-dir>')
  .argument('<collection-dir>')
  .option('--first <stage>', 'bm25 | dense | hybrid', 'bm25')
  .option('--queries <n>', 'evaluate the first n judged queries', int('--queries'))
  .option('--rerank <model>', 'cross-encoder: a model directory or a Hugging Face id')
  .option('--candidates <n>', 'first-stage candidates to rerank', int('--candidates'), 100)
  .option('--json', 'print the whole report (with per-query scores) as JSON')
  .action(async (beirDir: string, dir: string, o: { first: 'bm25' | 'dense' | 'hybrid'; queries?: number; rerank?: string; candidates: number; json?: boolean }) => {
    const data = loadBeir(beirDir);
    const col = await Collection.open(dir, { readOnly: true, refreshIntervalMs: 0 });
    const ce = await loadReranker(o.rerank);
    const bar = progress('evaluating');
    const report = await evaluate(col, data, {
      first: o.first,
      candidates: o.candidates,
      ...(o.queries ? { queries: o.queries } : {}),
      ...(ce ? { rerank: ce } : {}),
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.stop();
    await col.close();
    if (o.json) {
      console.log(JSON.stringify(report));
      return;
    }
    const cols = ['nDCG@10', 'MRR@10', 'R@10', `R@${report.candidates}`];
    const row = (name: string, values: string[]) => `${name.padEnd(18)}${values.map((v) => v.padStart(10)).join('')}`;
    const nums = (s: Scores) => [s.ndcg10, s.mrr10, s.recall10, s.recallAtCandidates].map((x) => x.toFixed(4));
    console.log(`${beirDir}: ${report.queries} queries, ${report.candidates} candidates per query`);
    console.log(row('stage', cols));
    console.log(row(report.first, nums(report.firstStage)));
    if (report.reranked) console.log(row(`${report.first} + rerank`, nums(report.reranked)));
  });

program
  .command('verify')
  .description('check SQLite against every index (counts, id maps, a sample of vectors re-embedded); exit 1 when something is wrong')
  .argument('<collection-dir>')
  .option('--repair', 'rebuild every index from SQLite when something is wrong (opens the collection for writing)')
  .option('--sample <n>', 'documents re-embedded and compared with their stored vectors', (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('--sample must be an integer >= 0');
    return n;
  }, 32)
  .option('--json', 'print the report as JSON')
  .action(async (dir: string, o: { repair?: boolean; sample: number; json?: boolean }) => {
    const col = await Collection.open(dir, o.repair ? {} : { readOnly: true, refreshIntervalMs: 0 });
    let report: VerifyReport;
    try {
      report = await col.verify({ sample: o.sample, repair: Boolean(o.repair) });
    } finally {
      await col.close();
    }
    if (o.json) console.log(JSON.stringify(report));
    else {
      const list = (ps: VerifyProblem[]) => ps.map((p) => `  ${p.part}: ${p.message}`).join('\n');
      if (report.repaired) console.log(`repaired: rebuilt every index from SQLite; it had ${report.repaired.length} problem(s):\n${list(report.repaired)}`);
      const c = report.checked;
      const parts = [
        c.bm25 && `BM25 ${c.bm25.live} live of ${c.bm25.entries}`,
        c.dense && `dense ${c.dense.vectors} vectors (${c.dense.stale} stale${c.dense.enumerated ? ', every id listed' : ''}, ${c.dense.sampled} re-embedded)`,
        c.pending && `pending ${c.pending.vectors} vectors (${c.pending.sampled} re-embedded)`,
      ].filter(Boolean);
      console.log(`${report.ok ? 'ok' : 'PROBLEMS'}: checkpoint ${report.seq}, ${report.documents} documents; ${parts.join('; ')}`);
      if (!report.ok) console.log(list(report.problems));
    }
    if (!report.ok) process.exitCode = 1;
  });

program
  .command('serve')
  .description('HTTP service: POST /rerank (TEI), /v1/rerank (Cohere v1/Jina), /v2/rerank (Cohere v2), /embed, /search; GET /health, /info, /metrics')
  .option('--rerank <model>', 'cross-encoder: a model directory or a Hugging Face id; repeatable as name=model (requests pick one by `model`, the first is the default)', (v: string, prev?: string[]) => [...(prev ?? []), v])
  .option('--rerank-config <file>', 'more rerankers: a JSON file { "rerankers": { "<name>": "<model>" } }')
  .option('--embedder <model>', 'bi-encoder for /embed: a model directory or a Hugging Face id')
  .option('--collection <dir>', 'collection for /search')
  .option('--workers <n>', 'rerank in a pool of n worker threads (default: in-process)', int('--workers'))
  .option('--host <host>', 'address to listen on (other than loopback only with an API key or --insecure-no-auth)', '127.0.0.1')
  .option('--port <n>', 'port (0: any free one)', (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--port must be an integer from 0 to 65535');
    return n;
  }, 8080)
  .option('--api-key <key>', 'accept this API key (repeatable; visible in ps: prefer --api-key-file or CROSSRANK_API_KEYS)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--api-key-file <path>', 'accept the keys in this file, one per line (re-read on SIGHUP)')
  .option('--insecure-no-auth', 'serve without an API key on a non-loopback address')
  .option('--metrics-public', 'GET /metrics without a key')
  .option('--cors <origin>', 'allow this browser origin (repeatable; default: CORS off)', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--max-documents <n>', 'most documents (texts) per rerank request', int('--max-documents'), 1000)
  .option('--max-batch <n>', 'alias of --max-documents and --max-embed-inputs', int('--max-batch'))
  .option('--max-query-chars <n>', 'most characters in a query', int('--max-query-chars'), 65536)
  .option('--max-document-chars <n>', 'most characters in a document or /embed input', int('--max-document-chars'), 524288)
  .option('--max-chunks-per-doc <n>', 'largest max_chunks_per_doc a request may ask for', int('--max-chunks-per-doc'), 32)
  .option('--max-top-n <n>', 'largest top_n / top_k', int('--max-top-n'), 1000)
  .option('--max-candidates <n>', 'largest /search candidates', int('--max-candidates'), 1000)
  .option('--max-embed-inputs <n>', 'most inputs per /embed request', int('--max-embed-inputs'), 1000)
  .option('--max-json-values <n>', 'most JSON values in a request body', int('--max-json-values'), 100000)
  .option('--body-limit <bytes>', 'largest request body', int('--body-limit'), 16 * 1024 * 1024)
  .option('--max-queue <n>', 'most requests admitted to model work (running or waiting); more get 429', int('--max-queue'), 256)
  .option('--max-concurrent <n>', 'most requests doing model work at once (default 4 in-process, unlimited with --workers)', int('--max-concurrent'))
  .option('--max-connections <n>', 'most open connections', int('--max-connections'), 1024)
  .option('--request-timeout-ms <ms>', "deadline of a request's work; past it the scoring stops and the answer is 504", int('--request-timeout-ms'), 30000)
  .option('--receive-timeout-ms <ms>', 'time to receive a whole request (headers and body)', int('--receive-timeout-ms'), 30000)
  .option('--headers-timeout-ms <ms>', "time to receive a request's headers", int('--headers-timeout-ms'), 10000)
  .option('--keep-alive-timeout-ms <ms>', 'idle keep-alive connections close after this', int('--keep-alive-timeout-ms'), 5000)
  .option('--connection-timeout-ms <ms>', 'a connection with no traffic closes after this', int('--connection-timeout-ms'), 60000)
  .option('--drain-timeout-ms <ms>', 'on SIGTERM, how long requests in flight may take to finish', int('--drain-timeout-ms'), 30000)
  .option('--no-auto-truncate', 'answer 413 for pairs over the model limit unless a request says truncate: true')
  .option('--log-level <level>', 'pino level: fatal, error, warn, info, debug, trace, silent', 'info')
  .action(async (o: Record<string, unknown> & { maxBatch?: number }) => {
    const n = (k: string) => o[k] as number;
    const d = downloads();
    try {
      await serve({
        ...(o.rerank ? { rerank: o.rerank as string[] } : {}),
        ...(o.rerankConfig ? { rerankConfig: o.rerankConfig as string } : {}),
        ...(o.embedder ? { embedder: o.embedder as string } : {}),
        ...(o.collection ? { collection: o.collection as string } : {}),
        ...(o.workers ? { workers: n('workers') } : {}),
        host: o.host as string,
        port: n('port'),
        autoTruncate: o.autoTruncate as boolean,
        logLevel: o.logLevel as string,
        apiKey: o.apiKey as string[],
        ...(o.apiKeyFile ? { apiKeyFile: o.apiKeyFile as string } : {}),
        insecureNoAuth: Boolean(o.insecureNoAuth),
        metricsPublic: Boolean(o.metricsPublic),
        cors: o.cors as string[],
        limits: {
          maxDocuments: o.maxBatch ?? n('maxDocuments'),
          maxEmbedInputs: o.maxBatch ?? n('maxEmbedInputs'),
          maxQueryChars: n('maxQueryChars'),
          maxDocumentChars: n('maxDocumentChars'),
          maxChunksPerDoc: n('maxChunksPerDoc'),
          maxTopN: n('maxTopN'),
          maxCandidates: n('maxCandidates'),
          maxJsonValues: n('maxJsonValues'),
        },
        timeouts: {
          requestMs: n('requestTimeoutMs'),
          receiveMs: n('receiveTimeoutMs'),
          headersMs: n('headersTimeoutMs'),
          keepAliveMs: n('keepAliveTimeoutMs'),
          connectionMs: n('connectionTimeoutMs'),
        },
        bodyLimit: n('bodyLimit'),
        maxConnections: n('maxConnections'),
        maxQueue: n('maxQueue'),
        ...(o.maxConcurrent ? { maxConcurrent: n('maxConcurrent') } : {}),
        drainTimeoutMs: n('drainTimeoutMs'),
        onDownload: d.onDownload,
      });
    } finally {
      d.stop();
    }
  });

program.command('info').description('the FAISS build and the SIMD level its kernels run at (JSON)').action(async () => console.log(JSON.stringify((await import('./index/faiss-index.js')).faissInfo())));
program.parseAsync().catch((e: Error & { code?: string }) => {
  console.error(`crossrank: ${e.code ? `${e.code}: ` : ''}${e.message}`);
  process.exit(1);
});
