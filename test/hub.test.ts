// Loading models by hub id, against a local server in the hub's layout (test/fixtures/hub-server):
// the Hugging Face cache layout, re-use without downloads, offline and unreachable modes, revisions,
// private repos, and the errors for a missing repo or dtype.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BiEncoder, Collection, CrossEncoder, RerankPool, hubCacheDir, type DownloadProgress } from '../src/index.js';
import { startHub, type HubServer } from './fixtures/hub-server.js';
import { rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

const CE = 'cross-encoder/ms-marco-MiniLM-L6-v2';
const BI = 'sentence-transformers/all-MiniLM-L6-v2';
const Q = 'what is the boiling point of water at altitude';
const DOCS = ['water boils at lower temperatures at high altitude', 'the stock market closed higher', 'boiling point of water is 100 C at sea level'];

describe('hub loading', () => {
  let hub: HubServer;
  const cache = () => mkdtempSync(join(tmpdir(), 'crossrank-hub-'));
  const modelRequests = () => hub.requests.filter((r) => r.url.includes('/resolve/'));

  beforeAll(async () => {
    hub = await startHub({
      [CE]: { dir: requireShared('models/bert-tiny-cross'), tags: ['v1.0'] },
      [BI]: { dir: requireShared('models/bert-tiny-bi') },
      'acme/private-reranker': { dir: requireShared('models/bert-tiny-cross'), token: 'hf_secret' },
      'acme/corrupted': { dir: requireShared('models/bert-tiny-cross'), corrupt: ['onnx/model.onnx', 'config.json'] },
    });
  });
  afterAll(() => hub.close());

  it('downloads only what the model needs into the Hugging Face cache layout and scores like the local directory', async () => {
    const cacheDir = cache();
    const progress: DownloadProgress[] = [];
    const ce = await CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir, onDownload: (p) => progress.push(p) });
    const local = await CrossEncoder.load(requireShared('models/bert-tiny-cross'));
    expect(Array.from(await ce.score(Q, DOCS))).toEqual(Array.from(await local.score(Q, DOCS)));

    const folder = join(cacheDir, 'models--cross-encoder--ms-marco-MiniLM-L6-v2');
    const commit = hub.commitOf(CE);
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(commit);
    const snap = join(folder, 'snapshots', commit);
    for (const f of ['onnx/model.onnx', 'tokenizer.json', 'config.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      expect(lstatSync(join(snap, f)).isSymbolicLink()).toBe(true);  // pointers into blobs/, as huggingface_hub lays them out
      expect(readlinkSync(join(snap, f))).toContain('blobs');
      expect(readFileSync(join(snap, f)).equals(readFileSync(join(requireShared('models/bert-tiny-cross'), f)))).toBe(true);
    }
    expect(existsSync(join(snap, 'vocab.txt'))).toBe(false);  // not needed: not fetched
    // Progress for the ONNX file ends at its size.
    const onnxSize = statSync(join(requireShared('models/bert-tiny-cross'), 'onnx/model.onnx')).size;
    const last = progress.filter((p) => p.file === 'onnx/model.onnx').at(-1)!;
    expect(last.loaded).toBe(onnxSize);
    expect(last.total).toBe(onnxSize);
  });

  it('loads of one model at once share each download', async () => {
    const cacheDir = cache();
    const before = modelRequests().length;
    const [a, b] = await Promise.all([CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir }), CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir })]);
    const alone = cache();
    const mid = modelRequests().length;
    await CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir: alone });
    expect(mid - before).toBe(modelRequests().length - mid);  // two loads at once fetched what one load fetches
    expect(Array.from(await a.score(Q, DOCS))).toEqual(Array.from(await b.score(Q, DOCS)));
  });

  it('a second load downloads nothing; offline it makes no request; with the hub down it falls back to the cache with a warning', async () => {
    const cacheDir = cache();
    await CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir });
    const downloads = modelRequests().length;
    const before = hub.requests.length;
    await CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir });
    expect(modelRequests().length).toBe(downloads);  // only the revision lookup went out
    expect(hub.requests.length - before).toBe(1);

    const quiet = hub.requests.length;
    const offline = await CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir, localFilesOnly: true });
    expect(hub.requests.length).toBe(quiet);
    expect((await offline.score(Q, DOCS)).length).toBe(3);

    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const down = await CrossEncoder.load(CE, { hubUrl: 'http://127.0.0.1:9', cacheDir });  // nothing listens on port 9
      expect((await down.score(Q, DOCS)).length).toBe(3);
      await new Promise((r) => setImmediate(r));
      expect(warnings.some((w) => /cannot reach http:\/\/127\.0\.0\.1:9/.test(w.message))).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('reports what is missing: no cache offline, hub unreachable, unknown repo, missing dtype, private repo without a token', async () => {
    const empty = cache();
    let e = await rejectionOf(CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir: empty, localFilesOnly: true }));
    expect(e.code).toBe('ERR_MODEL_NOT_CACHED');
    expect(e.message).toContain('no snapshot');
    e = await rejectionOf(CrossEncoder.load(CE, { hubUrl: 'http://127.0.0.1:9', cacheDir: empty }));
    expect(e.code).toBe('ERR_HUB_UNREACHABLE');
    e = await rejectionOf(CrossEncoder.load('nobody/no-such-model', { hubUrl: hub.url, cacheDir: empty }));
    expect(e.code).toBe('ERR_MODEL_NOT_FOUND');
    expect(e.message).toContain('HTTP 404');
    e = await rejectionOf(CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir: empty, dtype: 'fp16' }));
    expect(e.code).toBe('ERR_MODEL_NOT_FOUND');
    expect(e.message).toContain('onnx/model_fp16.onnx');
    expect(e.message).toContain('onnx/model.onnx, onnx/model_quantized.onnx');  // what the repo does have
    e = await rejectionOf(CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir: empty, revision: 'no-such-branch' }));
    expect(e.code).toBe('ERR_MODEL_NOT_FOUND');
    e = await rejectionOf(CrossEncoder.load('acme/private-reranker', { hubUrl: hub.url, cacheDir: empty }));
    expect(e.code).toBe('ERR_HUB_AUTH');
    const priv = await CrossEncoder.load('acme/private-reranker', { hubUrl: hub.url, cacheDir: empty, token: 'hf_secret' });
    expect((await priv.score(Q, DOCS)).length).toBe(3);
    await expect(CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir: empty, localFilesOnly: 'yes' as never })).rejects.toThrow(/options.localFilesOnly/);
    expect((await rejectionOf(CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir: empty, revision: '../../etc' }))).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('a file that does not match its hash (LFS SHA-256 or git blob id) fails the load and leaves the cache', async () => {
    const cacheDir = cache();
    const e = await rejectionOf(CrossEncoder.load('acme/corrupted', { hubUrl: hub.url, cacheDir }));
    expect(e.code).toBe('ERR_HUB_INTEGRITY');
    expect(e.message).toContain('onnx/model.onnx');
    const folder = join(cacheDir, 'models--acme--corrupted');
    expect(existsSync(join(folder, 'snapshots', hub.commitOf('acme/corrupted'), 'onnx/model.onnx'))).toBe(false);
    expect(readdirSync(join(folder, 'blobs'))).toEqual([]);
    // The small file is checked by its git blob id: with the ONNX file intact, config.json fails.
    const e2 = await rejectionOf(CrossEncoder.load('acme/corrupted', { hubUrl: hub.url, cacheDir, modelFile: 'onnx/model_quantized.onnx' }));
    expect(e2.code).toBe('ERR_HUB_INTEGRITY');
    expect(e2.message).toContain('config.json');
  });

  it('revisions: a tag is recorded under refs/, a commit hash needs no ref', async () => {
    const cacheDir = cache();
    const commit = hub.commitOf(CE);
    await CrossEncoder.load(CE, { hubUrl: hub.url, cacheDir, revision: 'v1.0' });
    const folder = join(cacheDir, 'models--cross-encoder--ms-marco-MiniLM-L6-v2');
    expect(readFileSync(join(folder, 'refs', 'v1.0'), 'utf8')).toBe(commit);
    expect(existsSync(join(folder, 'refs', 'main'))).toBe(false);
    const pinned = await CrossEncoder.load(CE, { cacheDir, revision: commit, localFilesOnly: true });
    expect((await pinned.score(Q, DOCS)).length).toBe(3);
  });

  it('HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE are honoured', async () => {
    const saved = { ...process.env };
    const cacheDir = cache();
    try {
      process.env.HF_ENDPOINT = hub.url;
      process.env.HF_HUB_CACHE = cacheDir;
      expect(hubCacheDir()).toBe(cacheDir);
      await CrossEncoder.load(CE);
      expect(existsSync(join(cacheDir, 'models--cross-encoder--ms-marco-MiniLM-L6-v2', 'refs', 'main'))).toBe(true);
      process.env.HF_HUB_OFFLINE = '1';
      const before = hub.requests.length;
      await CrossEncoder.load(CE);
      expect(hub.requests.length).toBe(before);
      delete process.env.HF_HUB_CACHE;
      process.env.HF_HOME = join(cacheDir, 'home');
      expect(hubCacheDir()).toBe(join(cacheDir, 'home', 'hub'));
      expect((await rejectionOf(CrossEncoder.load(CE))).code).toBe('ERR_MODEL_NOT_CACHED');
    } finally {
      process.env = saved;
    }
  });

  it('bi-encoders and rerank pools load by id too', async () => {
    const cacheDir = cache();
    const bi = await BiEncoder.load(BI, { hubUrl: hub.url, cacheDir });
    const local = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
    expect(Array.from(await bi.embed(DOCS))).toEqual(Array.from(await local.embed(DOCS)));
    const pool = await RerankPool.create(CE, { hubUrl: hub.url, cacheDir, workers: 1, cache: false });
    try {
      const ce = await CrossEncoder.load(CE, { cacheDir, localFilesOnly: true });
      expect(Array.from(await pool.score(Q, DOCS))).toEqual(Array.from(await ce.score(Q, DOCS)));
    } finally {
      await pool.close();
    }
  });

  it('the CLI takes hub ids for --embedder and --rerank (HF_ENDPOINT, HF_HUB_CACHE); the collection records the snapshot, not the token', async () => {
    const tmp = cache();
    const beir = join(tmp, 'beir');
    mkdirSync(join(beir, 'qrels'), { recursive: true });
    writeFileSync(join(beir, 'corpus.jsonl'), DOCS.map((text, i) => JSON.stringify({ _id: `d${i}`, title: '', text })).join('\n'));
    writeFileSync(join(beir, 'queries.jsonl'), JSON.stringify({ _id: 'q0', text: Q }));
    writeFileSync(join(beir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq0\td0\t1\n');
    const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(tmp, 'hub'), HF_TOKEN: 'hf_unused' };
    const cli = join(import.meta.dirname, '../dist/cli.js');
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
    const col = join(tmp, 'col');
    await run('index', beir, col, '--embedder', BI);
    const { stdout } = await run('search', col, Q, '--first', 'hybrid', '--rerank', CE, '--top-k', '3', '--json');
    const printed = (JSON.parse(stdout) as { reranked: boolean; hits: { id: string; score: number }[] });  // the hub client's notes go to stderr
    expect(printed.reranked).toBe(true);
    expect(printed.hits).toHaveLength(3);
    // Scores printed are the reranker's: the same as scoring in-process from the cache.
    const ce = await CrossEncoder.load(CE, { cacheDir: join(tmp, 'hub'), localFilesOnly: true });
    const scores = await ce.score(Q, DOCS);
    for (const p of printed.hits) expect(p.score).toBeCloseTo(scores[Number(p.id.slice(1))]!, 4);
    const manifest = readFileSync(join(col, 'collection.json'), 'utf8');
    expect(manifest).toContain(join(tmp, 'hub', 'models--sentence-transformers--all-MiniLM-L6-v2', 'snapshots', hub.commitOf(BI)));
    expect(manifest).not.toContain('hf_unused');
    const reopened = await Collection.open(col);
    expect((await reopened.search(Q, { first: 'dense', topK: 3 })).hits).toHaveLength(3);
    await reopened.close();
  }, 60_000);
});
