/** `crossrank serve`: the HTTP service. */
import { Command, Option } from 'commander';
import { downloads, int, UsageError } from './common.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('HTTP service: POST /rerank (TEI), /v1/rerank (Cohere v1/Jina), /v2/rerank (Cohere v2), /embed, /search; GET /health, /info, /metrics')
    .option('--rerank <model>', 'cross-encoder: a model directory or a Hugging Face id; repeatable as name=model (requests pick one by `model`, the first is the default)', (v: string, prev?: string[]) => [...(prev ?? []), v])
    .option('--rerank-config <file>', 'more rerankers: a JSON file { "rerankers": { "<name>": "<model>" } }')
    .option('--embedder <model>', 'bi-encoder for /embed: a model directory or a Hugging Face id')
    .option('--collection <dir>', 'collection for /search')
    .option('--workers <n>', 'rerank in a pool of n worker threads (default: in-process)', int('--workers'))
    .option('--host <host>', 'address to listen on (other than loopback only with an API key or --insecure-no-auth)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one)', int('--port', 0, 65535), 8080)
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
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
    .action(async (o: Record<string, unknown> & { maxBatch?: number }) => {
      if (!o.rerank && !o.rerankConfig && !o.embedder && !o.collection) throw new UsageError('ERR_CLI_MISSING_OPTION', 'serve needs a model or a collection: give --rerank, --rerank-config, --embedder or --collection (or more than one)');
      const { serve } = await import('../server/serve.js'); // fastify and friends only when serving
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
}
