// CrossEncoder API: ranking, options, errors, cache, cancellation, disposal, chunking, model checks.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { BatchError, CrossEncoder, CrossrankError, loadCranfield } from '../src/index.js';
import { addon } from '../src/native.js';
import { errorOf, rejectionOf } from './helpers.js';
import { requireShared } from './shared.js';

const Q = 'what is the boundary layer in supersonic flow?';
const DOCS = [
  'the boundary layer thickens downstream of the shock in supersonic flow.',
  'bananas are yellow.',
  'heat transfer in laminar boundary layers at high mach numbers.',
  'a recipe for pancakes with maple syrup.',
  'wing flutter at transonic speeds.',
];

describe('CrossEncoder API', () => {
  let dir: string;
  let ce: CrossEncoder;
  let raw: CrossEncoder;
  let cranDocs: string[];

  beforeAll(async () => {
    dir = requireShared('models/bert-tiny-cross');
    ce = await CrossEncoder.load(dir);
    raw = await CrossEncoder.load(dir, { activation: 'none', cache: false });
    cranDocs = loadCranfield(requireShared('fixtures/ir/cranfield')).docs.map((d) => `${d.title} ${d.text}`);
  });

  it('loads a local Hugging Face-layout directory and reports what it loaded', () => {
    expect(ce.modelPath).toBe(join(dir, 'onnx/model.onnx'));
    expect(ce.dtype).toBe('fp32');
    expect(ce.activation).toBe('sigmoid');
    expect(ce.label).toBe(0);
    expect(ce.maxLength).toBe(512);
    expect(ce.device).toBe('cpu');
    expect(ce.config.numLabels).toBe(1);
    expect(ce.batchInvariant).toBe(true);
  });

  it("device 'cuda' fails clearly without the CUDA provider; 'auto' falls back to CPU and says so", async () => {
    // Which outcome is right is decided beforehand, from the machine: ONNX Runtime loads the CUDA
    // provider from beside its own library, and it needs an NVIDIA driver. (Here, neither: the
    // provider cannot be downloaded on these machines.)
    const ortBin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin/napi-v6', process.platform, process.arch);
    const haveCuda = existsSync(join(ortBin, 'libonnxruntime_providers_cuda.so')) && existsSync('/dev/nvidiactl');
    if (haveCuda) {
      expect((await CrossEncoder.load(dir, { device: 'cuda' })).device).toBe('cuda');
      expect((await CrossEncoder.load(dir, { device: 'auto' })).device).toBe('cuda');
    } else {
      const e = await rejectionOf(CrossEncoder.load(dir, { device: 'cuda' }));
      expect(e).toBeInstanceOf(CrossrankError);
      expect(e.code).toBe('ERR_DEVICE_UNAVAILABLE');
      expect(e.message).toMatch(/CUDA execution provider/);
      const auto = await CrossEncoder.load(dir, { device: 'auto', cache: false, activation: 'none' });
      expect(auto.device).toBe('cpu');
      expect(Array.from(await auto.score(Q, DOCS))).toEqual(Array.from(await raw.score(Q, DOCS)));
    }
  });

  it('shares one native session between handles on the same file and options', async () => {
    const before = addon.NativeSession.liveSessions();
    const a = await CrossEncoder.load(dir, { threads: 3 });
    const b = await CrossEncoder.load(dir, { threads: 3 });
    expect(addon.NativeSession.liveSessions()).toBe(before + 1);
    a.dispose();
    b.dispose();
    expect(addon.NativeSession.liveSessions()).toBe(before);
  });

  it('rerank: sorted best first, ties by input order, topK, metadata passed through', async () => {
    const docs = DOCS.map((text, i) => ({ text, id: `d${i}`, year: 1960 + i }));
    const all = await ce.rerank(Q, docs, { returnDocuments: true });
    expect(all.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.score).toBeGreaterThanOrEqual(all[i]!.score);
    for (const r of all) {
      expect(r.id).toBe(`d${r.index}`);
      expect(r.document).toBe(docs[r.index]);
      expect(r.score).toBeCloseTo(1 / (1 + Math.exp(-r.logit)), 6);
      expect(r.score).toBeGreaterThan(0);
      expect(r.score).toBeLessThan(1);
    }
    const top2 = await ce.rerank(Q, docs, { topK: 2 });
    expect(top2.map((r) => r.index)).toEqual(all.slice(0, 2).map((r) => r.index));
    expect(top2[0]!.document).toBeUndefined();
    expect(await ce.rerank(Q, docs, { topK: 50 })).toHaveLength(5);
    expect(await ce.rerank(Q, [])).toEqual([]);
    const dup = await ce.rerank(Q, ['same text', 'same text', 'same text']);
    expect(dup.map((r) => r.index)).toEqual([0, 1, 2]);
  });

  it('score, scorePairs and scoreDetailed agree; activation none gives logits', async () => {
    const s = await ce.score(Q, DOCS);
    const logits = await raw.score(Q, DOCS);
    s.forEach((v, i) => expect(v).toBeCloseTo(1 / (1 + Math.exp(-logits[i]!)), 6));
    const pairs = await raw.scorePairs([[Q, DOCS[0]!], ['another query', DOCS[0]!], [Q, DOCS[2]!]]);
    expect(pairs[0]).toBe(logits[0]);
    expect(pairs[2]).toBe(logits[2]);
    expect(pairs[1]).not.toBe(logits[0]);
    const d = await ce.scoreDetailed(Q, DOCS);
    expect(d.activation).toBe('sigmoid');
    expect(Array.from(d.logits)).toEqual(Array.from(logits));
    expect(d.failures).toEqual([]);
  });

  it('rejects bad input with typed errors naming the argument', async () => {
    await expect(ce.rerank(Q, 'nope' as never)).rejects.toThrow(TypeError);
    await expect(ce.rerank(Q, ['ok', 7] as never)).rejects.toThrow(/"docs\[1\]"/);
    await expect(ce.rerank(Q, ['ok', { title: 'x' }] as never)).rejects.toThrow(/"docs\[1\]"/);
    await expect(ce.rerank(42 as never, ['a'])).rejects.toThrow(/"query"/);
    for (const topK of [0, -1, 1.5, Number.NaN]) {
      const e = await rejectionOf(ce.rerank(Q, ['a'], { topK }));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.code).toBe('ERR_OUT_OF_RANGE');
      expect(e.message).toMatch(/options.topK/);
    }
    await expect(ce.scorePairs([['a']] as never)).rejects.toThrow(/"pairs\[0\]"/);
    await expect(ce.rerank(Q, ['a'], { signal: {} as never })).rejects.toThrow(/options.signal/);
    await expect(ce.rerank(Q, ['a'], { chunking: { stride: -1 } })).rejects.toThrow(/options.chunking.stride/);
  });

  it('rejects bad load options and missing or unusable model files', async () => {
    await expect(CrossEncoder.load(dir, { maxLength: 4096 })).rejects.toThrow(/options.maxLength/);
    await expect(CrossEncoder.load(dir, { activation: 'softmax' })).rejects.toThrow(RangeError);
    await expect(CrossEncoder.load(dir, { dtype: 'fp64' as never })).rejects.toThrow(/options.dtype/);
    await expect(CrossEncoder.load(dir, { device: 'tpu' as never })).rejects.toThrow(/options.device/);
    let e = await rejectionOf(CrossEncoder.load(dir, { dtype: 'fp16' }));
    expect(e.code).toBe('ERR_MODEL_NOT_FOUND');
    expect(e.message).toContain(join(dir, 'onnx/model_fp16.onnx'));
    e = await rejectionOf(CrossEncoder.load('/nonexistent/model-dir'));
    expect(e.code).toBe('ERR_MODEL_NOT_FOUND');
    // A hub id with hub access off and nothing cached (hub loading itself: test/hub.test.ts).
    e = await rejectionOf(CrossEncoder.load('cross-encoder/not-downloaded-here', { localFilesOnly: true, cacheDir: tmpdir() }));
    expect(e.code).toBe('ERR_MODEL_NOT_CACHED');

    const tmp = mkdtempSync(join(tmpdir(), 'crossrank-model-'));
    try {
      cpSync(join(dir, 'config.json'), join(tmp, 'config.json'));
      cpSync(join(dir, 'onnx'), join(tmp, 'onnx'), { recursive: true });
      e = await rejectionOf(CrossEncoder.load(tmp));
      expect(e.code).toBe('ERR_MODEL_NOT_FOUND');
      expect(e.message).toContain(join(tmp, 'tokenizer.json'));
      cpSync(join(dir, 'tokenizer.json'), join(tmp, 'tokenizer.json'));
      execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'fixtures/model_variants.py'), join(dir, 'onnx/model.onnx'), tmp]);
      e = await rejectionOf(CrossEncoder.load(tmp, { modelFile: 'renamed-input.onnx' }));
      expect(e.code).toBe('ERR_MODEL_INPUTS');
      expect(e.message).toMatch(/'ids'/);
      e = await rejectionOf(CrossEncoder.load(tmp, { modelFile: 'two-outputs.onnx' }));
      expect(e.code).toBe('ERR_MODEL_OUTPUTS');
      expect(e.message).toMatch(/'logits'.*'score', 'extra'/);

      // A model without token_type_ids works, and equals ORT fed the same ids.
      const nt = await CrossEncoder.load(tmp, { modelFile: 'no-types.onnx', activation: 'none', cache: false });
      const got = await nt.score(Q, [DOCS[0]!]);
      const enc = nt.tokenizer.encode(Q, DOCS[0]!);
      const session = await ort.InferenceSession.create(join(tmp, 'no-types.onnx'));
      expect(session.inputNames).not.toContain('token_type_ids');
      const t = (a: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), [1, a.length]);
      const out = await session.run({ input_ids: t(enc.ids), attention_mask: t(enc.attentionMask) });
      expect(Math.abs(got[0]! - (out.logits!.data as Float32Array)[0]!)).toBeLessThan(1e-5);
      await session.release();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('reports per-pair failures without losing the other results', async () => {
    const strict = await CrossEncoder.load(dir, { truncation: 'only_second', maxLength: 16, cache: false });
    const longQuery = 'word '.repeat(40);
    const e = await rejectionOf(strict.scorePairs([[Q.slice(0, 10), 'fine'], [longQuery, 'doc'], ['short', 'ok']]));
    expect(e).toBeInstanceOf(BatchError);
    const be = e as BatchError<number>;
    expect(be.failures.map((f) => f.index)).toEqual([1]);
    expect(be.failures[0]!.code).toBe('ERR_TRUNCATION');
    expect(be.results[0]).toBeTypeOf('number');
    expect(be.results[1]).toBeNull();
    expect(be.results[2]).toBeTypeOf('number');
  });

  it('cache: hits on repeat, one model run for concurrent identical requests, off switch', async () => {
    const c = await CrossEncoder.load(dir, { cache: { maxEntries: 3 } });
    const first = await c.score(Q, DOCS.slice(0, 3));
    expect(c.cacheStats()).toMatchObject({ size: 3, hits: 0, misses: 3 });
    const again = await c.score(Q, DOCS.slice(0, 3));
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(c.cacheStats()).toMatchObject({ hits: 3, misses: 3 });
    await c.score(Q, [DOCS[3]!]);  // evicts the least recently used
    expect(c.cacheStats()!.size).toBe(3);

    const fresh = await CrossEncoder.load(dir, {});
    const [a, b] = await Promise.all([fresh.score(Q, cranDocs.slice(0, 50)), fresh.score(Q, cranDocs.slice(0, 50))]);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(fresh.cacheStats()).toMatchObject({ misses: 50, inflightHits: 50 });
    // Different options are different cache scopes.
    const chunked = await fresh.score(Q, cranDocs.slice(0, 5), { chunking: { stride: 8 } });
    expect(fresh.cacheStats()!.misses).toBe(55);
    expect(chunked.length).toBe(5);
    expect(raw.cacheStats()).toBeNull();
  });

  it('a waiting request computes pairs itself when the request computing them is aborted', async () => {
    const c = await CrossEncoder.load(dir, {});
    const ac = new AbortController();
    const first = c.score(Q, cranDocs.slice(0, 400), { signal: ac.signal });
    const second = c.score(Q, cranDocs.slice(0, 400));
    ac.abort();
    const e = await rejectionOf(first);
    expect(e.name).toBe('AbortError');
    expect(e.code).toBe('ABORT_ERR');
    const s = await second;
    expect(s.every((v) => Number.isFinite(v))).toBe(true);
    expect(Array.from(s)).toEqual(Array.from(await raw.score(Q, cranDocs.slice(0, 400)).then((l) => l.map((x) => 1 / (1 + Math.exp(-x))))));
  });

  it('abort: before the call and between micro-batches; dispose refuses while in flight', async () => {
    const c = await CrossEncoder.load(dir, { cache: false, batchSize: 2 });
    const pre = new AbortController();
    pre.abort();
    expect((await rejectionOf(c.score(Q, ['a'], { signal: pre.signal }))).code).toBe('ABORT_ERR');

    const ac = new AbortController();
    const run = c.score(Q, cranDocs, { signal: ac.signal });
    expect(c.inFlight).toBe(1);
    const busy = errorOf(() => c.dispose());
    expect(busy).toBeInstanceOf(CrossrankError);
    expect(busy.code).toBe('ERR_BUSY');
    ac.abort();
    expect((await rejectionOf(run)).code).toBe('ABORT_ERR');
    expect(c.inFlight).toBe(0);
    c.dispose();
    expect((await rejectionOf(c.score(Q, ['a']))).code).toBe('ERR_DISPOSED');
  });

  it('chunking: long documents are scored window by window and the best window is named', async () => {
    const chunker = await CrossEncoder.load(dir, { activation: 'none', cache: false, maxLength: 64, chunking: { stride: 16 } });
    const cut = await CrossEncoder.load(dir, { activation: 'none', cache: false, maxLength: 64, truncation: 'only_second' });
    const docs = cranDocs.slice(0, 30);
    const res = await chunker.rerank(Q, docs);
    const d = await chunker.scoreDetailed(Q, docs);
    const first = await cut.score(Q, docs);
    const tok = chunker.tokenizer;
    for (const r of res) {
      const text = docs[r.index]!;
      const enc = tok.encode(Q, text, { maxLength: 64, truncation: 'only_second', stride: 16, returnOverflowing: true });
      expect(r.chunk!.count).toBe(1 + enc.overflowing.length);
      expect(r.chunk!.index).toBeLessThan(r.chunk!.count);
      expect(r.chunk!.start).toBeLessThan(r.chunk!.end);
      expect(r.chunk!.end).toBeLessThanOrEqual(text.length);
      // The first window is exactly the only_second-truncated pair; the best is at least as good.
      expect(r.logit).toBeGreaterThanOrEqual(first[r.index]!);
      if (r.chunk!.index === 0) expect(r.logit).toBe(first[r.index]);
      expect(r.truncated).toBeUndefined();  // split into windows, nothing dropped
    }
    expect(res.some((r) => r.chunk!.index > 0)).toBe(true);
    expect(d.chunks.some((c) => c > 2)).toBe(true);
    const capped = await chunker.scoreDetailed(Q, docs, { chunking: { stride: 16, maxChunks: 2 } });
    expect(Math.max(...capped.chunks)).toBe(2);
    capped.chunks.forEach((c, i) => expect(capped.truncated[i]).toBe(d.chunks[i]! > 2 ? 1 : 0));
  });

  it('scores 100 000 documents in one call', async () => {
    const docs = Array.from({ length: 100_000 }, (_, i) => `${cranDocs[i % cranDocs.length]!.slice(0, 120)} ${i}`);
    const s = await raw.score(Q, docs);
    expect(s.length).toBe(100_000);
    expect(s.every((v) => Number.isFinite(v))).toBe(true);
    const sample = [0, 4242, 99_999];
    const one = await raw.score(Q, sample.map((i) => docs[i]!));
    expect(Array.from(one)).toEqual(sample.map((i) => s[i]));
  }, 300_000);
});
