// Exactness of the reranker: logits equal transformers.js on the same ONNX file for pairs that need
// no truncation; equal to ONNX Runtime run directly on the `tokenizers` package's ids for pairs that
// do; int8 scores equal ORT at batch 1 and do not depend on the other documents of a request.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { CrossEncoder, loadBeir, type IrCollection } from '../src/index.js';
import { requireShared } from './shared.js';
import { modernbertCross, xlmrCross } from '../bench/models.js';

const require = createRequire(import.meta.url);
const hf = require('tokenizers') as typeof import('tokenizers');

const TOL = 1e-5;

/** ArguAna (query, document) pairs: each query with its relevant document and a few others. */
function arguanaPairs(c: IrCollection, perQuery: number): [string, string][] {
  const pairs: [string, string][] = [];
  c.queries.forEach((q, qi) => {
    const rel = [...(c.qrels.get(q.id)?.keys() ?? [])];
    const ids = new Set(rel);
    for (let k = 0; ids.size < rel.length + perQuery - 1; k++) ids.add(c.docs[(qi * 37 + k * 101) % c.docs.length]!.id);
    const byId = new Map(c.docs.map((d) => [d.id, d]));
    for (const id of ids) {
      const d = byId.get(id);
      if (d) pairs.push([q.text, `${d.title} ${d.text}`.trim()]);
    }
  });
  return pairs;
}

/** ORT on one encoded pair at batch size 1: the floor every other path must equal. */
async function ortLogit(session: ort.InferenceSession, ids: number[], types: number[]): Promise<number> {
  const n = ids.length;
  const t = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, BigInt), [1, n]);
  const feeds: Record<string, ort.Tensor> = { input_ids: t(ids), attention_mask: t(new Array(n).fill(1)) };
  if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = t(types);
  const out = await session.run(feeds);
  return (out.logits!.data as Float32Array)[0]!;
}

/** ORT's logits at batch size 1 on the `tokenizers` package's ids (its truncation as set on `ref`). */
async function ortOnReferenceIds(file: string, ref: InstanceType<typeof hf.Tokenizer>, pairs: [string, string][]): Promise<number[]> {
  const session = await ort.InferenceSession.create(file);
  const out: number[] = [];
  for (const [q, d] of pairs) {
    const e = await ref.encode(q, d);
    out.push(await ortLogit(session, e.getIds(), e.getTypeIds()));
  }
  await session.release();
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('CrossEncoder exactness (bert-tiny-cross)', () => {
  let dir: string;
  let pairs: [string, string][];
  let fitting: [string, string][];  // need no truncation at 512
  let long: [string, string][];     // need truncation at 512
  let fp32: CrossEncoder;

  beforeAll(async () => {
    dir = requireShared('models/bert-tiny-cross');
    pairs = arguanaPairs(loadBeir(requireShared('fixtures/ir/beir-arguana')), 3);
    fp32 = await CrossEncoder.load(dir, { activation: 'none', cache: false });
    const lens = await fp32.tokenizer.encodeBatch(pairs, { truncation: false });
    fitting = pairs.filter((_, i) => lens[i]!.ids.length <= 512);
    long = pairs.filter((_, i) => lens[i]!.ids.length > 512);
  });

  it('has enough pairs of both kinds', () => {
    expect(fitting.length).toBeGreaterThanOrEqual(200);
    expect(long.length).toBeGreaterThanOrEqual(30);
  });

  it('equals transformers.js logits within 1e-5 on 240 pairs that need no truncation', async () => {
    const { AutoTokenizer, AutoModelForSequenceClassification } = await import('@huggingface/transformers');
    const sample = fitting.slice(0, 240);
    const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const model = await AutoModelForSequenceClassification.from_pretrained(dir, { local_files_only: true, dtype: 'fp32' });
    const ref = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i += 16) {
      const part = sample.slice(i, i + 16);
      const inputs = tok(part.map((p) => p[0]), { text_pair: part.map((p) => p[1]), padding: true, truncation: true });
      const out = await model(inputs);
      ref.set(out.logits.data as Float32Array, i);
    }
    const ours = await fp32.scorePairs(sample);
    expect(maxDiff(ours, ref)).toBeLessThan(TOL);
    await model.dispose();
  });

  it('gives bit-identical fp32 logits whatever the batch composition and order', async () => {
    const sample = fitting.slice(0, 200);
    const all = await fp32.scorePairs(sample);
    const reversed = (await fp32.scorePairs([...sample].reverse())).reverse();
    const inSevens = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i += 7) inSevens.set(await fp32.scorePairs(sample.slice(i, i + 7)), i);
    const alone = new Float32Array(20);
    for (let i = 0; i < 20; i++) alone.set(await fp32.scorePairs([sample[i]!]), i);
    const tiny = await CrossEncoder.load(dir, { activation: 'none', cache: false, batchSize: 3, maxBatchTokens: 1000 });
    const smallBatches = await tiny.scorePairs(sample);
    expect(Array.from(reversed)).toEqual(Array.from(all));
    expect(Array.from(inSevens)).toEqual(Array.from(all));
    expect(Array.from(alone)).toEqual(Array.from(all.subarray(0, 20)));
    expect(Array.from(smallBatches)).toEqual(Array.from(all));
  });

  it('equals ORT on the tokenizers package ids for pairs that need truncation', async () => {
    const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
    const ref = hf.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
    const qLens = await fp32.tokenizer.encodeBatch(long.map((p) => p[0]), { truncation: false, addSpecialTokens: false });
    // only_second: the whole query is kept and the document cut (queries that fit on their own).
    const sample = long.filter((_, i) => qLens[i]!.ids.length < 400).slice(0, 40);
    expect(sample.length).toBeGreaterThanOrEqual(20);
    ref.setTruncation(512, { strategy: 'OnlySecond' as never });
    const onlySecond = await CrossEncoder.load(dir, { activation: 'none', cache: false, truncation: 'only_second' });
    const mine = await onlySecond.scoreDetailed(sample[0]![0], []);  // warm, and an empty request is fine
    expect(mine.scores.length).toBe(0);
    const expected: number[] = [];
    for (const [q, d] of sample) {
      const e = await ref.encode(q, d);
      expected.push(await ortLogit(session, e.getIds(), e.getTypeIds()));
    }
    const got = await onlySecond.scorePairs(sample);
    expect(maxDiff(got, expected)).toBeLessThan(TOL);

    // longest_first on pairs whose query fits in half the room, so only the document is cut.
    ref.setTruncation(512, { strategy: 'LongestFirst' as never });
    const shortQuery = long.filter((_, i) => qLens[i]!.ids.length < 254).slice(0, 40);
    expect(shortQuery.length).toBeGreaterThanOrEqual(20);
    const exp2: number[] = [];
    for (const [q, d] of shortQuery) {
      const e = await ref.encode(q, d);
      exp2.push(await ortLogit(session, e.getIds(), e.getTypeIds()));
    }
    const got2 = await fp32.scorePairs(shortQuery);
    expect(maxDiff(got2, exp2)).toBeLessThan(TOL);
    await session.release();
  });

  it('reports which pairs were truncated', async () => {
    const [q, doc] = fitting[0]!;
    const docs = [doc.repeat(20), 'short document'];
    const d = await fp32.scoreDetailed(q, docs);
    expect(Array.from(d.truncated)).toEqual([1, 0]);
    expect(d.truncatedCount).toBe(1);
  });

  it('int8: equals ORT at batch size 1, and a score does not depend on the other documents', async () => {
    const q8 = await CrossEncoder.load(dir, { dtype: 'q8', activation: 'none', cache: false });
    expect(q8.batchInvariant).toBe(true);
    expect(q8.modelPath.endsWith('model_quantized.onnx')).toBe(true);
    const ref = hf.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
    const sample = fitting.slice(0, 30);
    const expected = await ortOnReferenceIds(join(dir, 'onnx/model_quantized.onnx'), ref, sample);
    expect(maxDiff(await q8.scorePairs(sample), expected)).toBeLessThan(TOL);

    // One query against 200 documents: each score alone, among 10 and among 200 must be equal.
    const query = fitting[0]![0];
    const docs = fitting.slice(0, 200).map((p) => p[1]);
    const among200 = await q8.score(query, docs);
    const among10 = new Float32Array(200);
    for (let i = 0; i < 200; i += 10) among10.set(await q8.score(query, docs.slice(i, i + 10).reverse()).then((s) => s.reverse()), i);
    const alone = new Float32Array(10);
    for (let i = 0; i < 10; i++) alone.set(await q8.score(query, [docs[i]!]), i);
    expect(Array.from(among10)).toEqual(Array.from(among200));
    expect(Array.from(alone)).toEqual(Array.from(among200.subarray(0, 10)));
  });
});

/** transformers.js logits for rows of ids, padded with `pad` and masked, in batches of 16. */
async function tjsLogits(model: { (x: Record<string, unknown>): Promise<{ logits: { data: Float32Array } }> }, rows: number[][], pad: number): Promise<Float32Array> {
  const { Tensor } = await import('@huggingface/transformers');
  const out = new Float32Array(rows.length);
  for (let i = 0; i < rows.length; i += 16) {
    const part = rows.slice(i, i + 16);
    const cols = Math.max(...part.map((r) => r.length));
    const ids = new BigInt64Array(part.length * cols).fill(BigInt(pad));
    const mask = new BigInt64Array(part.length * cols);
    part.forEach((r, k) => r.forEach((id, j) => {
      ids[k * cols + j] = BigInt(id);
      mask[k * cols + j] = 1n;
    }));
    const res = await model({
      input_ids: new Tensor('int64', ids, [part.length, cols]),
      attention_mask: new Tensor('int64', mask, [part.length, cols]),
    });
    out.set(res.logits.data, i);
  }
  return out;
}

interface Shaped {
  title: string;
  /** The generated model directory (bench/models.js). */
  dir: () => string | null;
  /** The id transformers.js pads with. */
  pad: number;
  /** Checks of what makes the shape: its inputs, its positions, its pair layout. */
  shape: (ce: CrossEncoder, fitting: [string, string][]) => void;
  /**
   * Set when scores are not bit-identical across batch compositions: a mean over the tokens sums
   * over the padded length, and ORT's reduction order changes with that length.
   */
  batchTolerance?: number;
}

const SHAPED: Shaped[] = [
  {
    title: 'XLM-RoBERTa shape: no token_type_ids, positions padding_idx + cumsum(mask), Unigram',
    dir: () => xlmrCross('tiny'),
    pad: 1,
    shape: (ce) => {
      expect(ce.maxLength).toBe(512);  // 514 position embeddings, 2 of them below padding_idx + 1
      const e = ce.tokenizer.encode('query', 'document');
      expect(e.ids[0]).toBe(0);
      expect(Array.from(e.ids).filter((id) => id === 2).length).toBe(3);  // <s> A </s></s> B </s>
      expect(Array.from(e.typeIds).every((t) => t === 0)).toBe(true);
    },
  },
  {
    title: 'ModernBERT shape: no token_type_ids, rotary positions, local attention (window 128) every 2 of 3 layers, GeGLU, mean pooling, byte-level BPE',
    dir: () => modernbertCross('tiny'),
    pad: 1,
    batchTolerance: 1e-5,
    shape: (ce, fitting) => {
      const e = ce.tokenizer.encode('query', 'document');
      expect(Array.from(e.ids).filter((id) => id === 2).length).toBe(2);  // [CLS] A [SEP] B [SEP]
      expect(Array.from(e.typeIds).every((t) => t === 0)).toBe(true);
      // Local attention matters only past 64 tokens each side: most pairs are longer.
      expect(fitting.filter((p) => ce.tokenizer.encode(p[0], p[1]).ids.length > 200).length).toBeGreaterThan(100);
    },
  },
];

for (const model of SHAPED) describe(`CrossEncoder exactness (${model.title})`, () => {
  let dir: string;
  let pairs: [string, string][];
  let fitting: [string, string][];
  let long: [string, string][];
  let fp32: CrossEncoder;
  let ref: InstanceType<typeof hf.Tokenizer>;
  let tjs: Awaited<ReturnType<typeof import('@huggingface/transformers')['AutoModelForSequenceClassification']['from_pretrained']>>;

  beforeAll(async () => {
    dir = model.dir() ?? requireShared('fixtures/tokenizers');
    pairs = arguanaPairs(loadBeir(requireShared('fixtures/ir/beir-arguana')), 3);
    fp32 = await CrossEncoder.load(dir, { activation: 'none', cache: false });
    ref = hf.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
    const lens = await fp32.tokenizer.encodeBatch(pairs, { truncation: false });
    fitting = pairs.filter((_, i) => lens[i]!.ids.length <= 512);
    long = pairs.filter((_, i) => lens[i]!.ids.length > 512);
    const { AutoModelForSequenceClassification } = await import('@huggingface/transformers');
    tjs = await AutoModelForSequenceClassification.from_pretrained(dir, { local_files_only: true, dtype: 'fp32' });
  }, 120_000);

  it('has the shape: no token_type_ids input (crossrank feeds none), its positions and pair layout', async () => {
    const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask']);
    await session.release();
    model.shape(fp32, fitting);
    expect(fitting.length).toBeGreaterThanOrEqual(200);
    expect(long.length).toBeGreaterThanOrEqual(30);
  });

  it('equals transformers.js (its tokenizer and model) within 1e-5 on 240 pairs that need no truncation', async () => {
    const { AutoTokenizer } = await import('@huggingface/transformers');
    const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const sample = fitting.slice(0, 240);
    const expected = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i += 16) {
      const part = sample.slice(i, i + 16);
      const inputs = tok(part.map((p) => p[0]), { text_pair: part.map((p) => p[1]), padding: true, truncation: true });
      expected.set((await tjs(inputs)).logits.data as Float32Array, i);
    }
    expect(maxDiff(await fp32.scorePairs(sample), expected)).toBeLessThan(TOL);
  });

  it('equals transformers.js on the tokenizers package ids for pairs cut with longest_first and only_second', async () => {
    for (const strategy of ['longest_first', 'only_second'] as const) {
      const ce = strategy === 'longest_first' ? fp32 : await CrossEncoder.load(dir, { activation: 'none', cache: false, truncation: strategy });
      ref.setTruncation(512, { strategy: (strategy === 'longest_first' ? 'LongestFirst' : 'OnlySecond') as never });
      const sample: [string, string][] = [];
      const rows: number[][] = [];
      for (const p of long) {
        const e = await ref.encode(p[0], p[1]).catch(() => null);  // only_second: queries too long to keep whole
        if (e && sample.length < 40) {
          sample.push(p);
          rows.push(e.getIds());
        }
      }
      expect(sample.length).toBeGreaterThanOrEqual(20);
      expect(rows.every((r) => r.length === 512)).toBe(true);
      expect(maxDiff(await ce.scorePairs(sample), await tjsLogits(tjs as never, rows, model.pad))).toBeLessThan(TOL);
    }
  });

  it(`fp32 logits do not depend on the batch composition and order (${model.batchTolerance ? `within ${model.batchTolerance}` : 'bit-identical'})`, async () => {
    const sample = [...fitting.slice(0, 150), ...long.slice(0, 30)];
    const all = await fp32.scorePairs(sample);
    const reversed = (await fp32.scorePairs([...sample].reverse())).reverse();
    const inSevens = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i += 7) inSevens.set(await fp32.scorePairs(sample.slice(i, i + 7)), i);
    const tiny = await CrossEncoder.load(dir, { activation: 'none', cache: false, batchSize: 3, maxBatchTokens: 1000 });
    const others = [reversed, inSevens, await tiny.scorePairs(sample)];
    for (const o of others) {
      if (model.batchTolerance) expect(maxDiff(o, all)).toBeLessThan(model.batchTolerance);
      else expect(Array.from(o)).toEqual(Array.from(all));
    }
  });

  it('chunking: every window is a row transformers.js scores the same; the best one wins', async () => {
    const chunker = await CrossEncoder.load(dir, { activation: 'none', cache: false, maxLength: 64, chunking: { stride: 16 } });
    const sample = long.slice(0, 8);
    const q = 'does eating meat harm the climate?';
    const got = await chunker.scoreDetailed(q, sample.map((p) => p[1]));
    for (let i = 0; i < sample.length; i++) {
      const d = sample[i]![1];
      const e = chunker.tokenizer.encode(q, d, { maxLength: 64, truncation: 'only_second', stride: 16, returnOverflowing: true });
      const windows = [e, ...e.overflowing].map((w) => Array.from(w.ids));
      expect(got.chunks[i]).toBe(windows.length);
      const logits = await tjsLogits(tjs as never, windows, model.pad);
      const best = logits.indexOf(Math.max(...logits));
      expect(Math.abs(got.logits[i]! - logits[best]!)).toBeLessThan(TOL);
      expect(got.bestChunk[i]).toBe(best);
    }
    expect(Math.min(...got.chunks)).toBeGreaterThan(2);
    const capped = await chunker.scoreDetailed(q, sample.map((p) => p[1]), { chunking: { stride: 16, maxChunks: 2 } });
    expect(Math.max(...capped.chunks)).toBe(2);
    expect(Array.from(capped.truncated).every((t, i) => t === (got.chunks[i]! > 2 ? 1 : 0))).toBe(true);
  });

  it('int8: equals ORT at batch size 1, and a score does not depend on the other documents', async () => {
    const q8 = await CrossEncoder.load(dir, { dtype: 'q8', activation: 'none', cache: false });
    expect(q8.batchInvariant).toBe(true);
    ref.setTruncation(512, { strategy: 'LongestFirst' as never });
    const sample = [...fitting.slice(0, 20), ...long.slice(0, 10)];
    const expected = await ortOnReferenceIds(join(dir, 'onnx/model_quantized.onnx'), ref, sample);
    expect(maxDiff(await q8.scorePairs(sample), expected)).toBeLessThan(TOL);
    const query = fitting[0]![0];
    const docs = fitting.slice(0, 60).map((p) => p[1]);
    const among60 = await q8.score(query, docs);
    const alone = new Float32Array(10);
    for (let i = 0; i < 10; i++) alone.set(await q8.score(query, [docs[i]!]), i);
    expect(Array.from(alone)).toEqual(Array.from(among60.subarray(0, 10)));
  });
});
