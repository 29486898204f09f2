// bench/rerank: one ArguAna query against 100 documents at max_length 512 on MiniLM-L6-shape
// cross-encoders (fp32 and int8), BERT (WordPiece, token_type_ids), XLM-RoBERTa (Unigram, no
// token_type_ids, offset positions) and ModernBERT (byte-level BPE, rotary, local attention) —
// bench/models.js — in one run:
//   (a) transformers.js (AutoModelForSequenceClassification) one pair per call, at batch 32
//       (sentence-transformers' default) and with all pairs in one batch; the fastest is the baseline;
//   (b) the ORT floor: onnxruntime-node on pre-tokenized, length-sorted inputs (tokenizing outside
//       the clock), batched with crossrank's default plan (fp32) or one pair per run (int8);
//   (c) crossrank CrossEncoder.score (cache off).
// Prints ms per request, pairs/s, pairs/s per core and ratios. `--test`: the tiny models, 10 documents.
// Options: --threads N (intra-op threads, default: cores), --reps N, --docs N.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { AutoModelForSequenceClassification, AutoTokenizer } from '@huggingface/transformers';
import { CrossEncoder, loadBeir } from '../dist/index.js';
import { arg, interleavedMs, medianMs, minilmCross, ratio, sharedPath, smoke } from './common.js';
import { modernbertCross, xlmrCross } from './models.js';

const argDir = sharedPath('fixtures/ir/beir-arguana');
const models = [
  { name: 'bert', dir: smoke ? sharedPath('models/bert-tiny-cross') : minilmCross() },
  { name: 'xlm-r', dir: xlmrCross(smoke ? 'tiny' : 'minilm') },
  { name: 'modernbert', dir: modernbertCross(smoke ? 'tiny' : 'minilm') },
];
if (!argDir || models.some((m) => !m.dir)) {
  console.log('bench/rerank: skipped, ../shared fixtures missing (set CROSSRANK_SHARED)');
  process.exit(0);
}
const threads = Number(arg('threads', availableParallelism()));
const reps = Number(arg('reps', smoke ? 1 : 5));
const nDocs = Number(arg('docs', smoke ? 10 : 100));
const MAX = 512;

const c = loadBeir(argDir);
const query = c.queries[0];
const rel = [...(c.qrels.get(query.id)?.keys() ?? [])];
const byId = new Map(c.docs.map((d) => [d.id, d]));
const docs = [...rel.map((id) => byId.get(id)), ...c.docs.filter((d) => !rel.includes(d.id))]
  .slice(0, nDocs)
  .map((d) => `${d.title} ${d.text}`.trim());

console.log(`bench/rerank: ${docs.length} ArguAna documents, query ${query.id}, max_length ${MAX}, ${threads} intra-op thread(s), median of ${reps}`);
for (const m of models) console.log(`model ${m.name}: ${m.dir}`);

/** The ORT floor: our tokenizer's ids (same as HF's), sorted by length, padded per batch. */
async function ortFloorRunner(file, batchSize, ce, tokenBudget) {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const withTypes = session.inputNames.includes('token_type_ids');  // XLM-R has none
  const enc = await ce.tokenizer.encodeBatch(docs.map((d) => [query.text, d]), { maxLength: MAX });
  const order = enc.map((_, i) => i).sort((a, b) => enc[b].ids.length - enc[a].ids.length || a - b);
  const batches = [];
  for (let i = 0; i < order.length; ) {
    const cols = enc[order[i]].ids.length;
    const rows = Math.min(batchSize, Math.max(1, Math.floor(tokenBudget / cols)), order.length - i);
    const ids = new BigInt64Array(rows * cols);
    const mask = new BigInt64Array(rows * cols);
    const types = new BigInt64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const e = enc[order[i + r]];
      for (let k = 0; k < e.ids.length; k++) {
        ids[r * cols + k] = BigInt(e.ids[k]);
        mask[r * cols + k] = 1n;
        types[r * cols + k] = BigInt(e.typeIds[k]);
      }
    }
    batches.push({
      input_ids: new ort.Tensor('int64', ids, [rows, cols]),
      attention_mask: new ort.Tensor('int64', mask, [rows, cols]),
      ...(withTypes ? { token_type_ids: new ort.Tensor('int64', types, [rows, cols]) } : {}),
    });
    i += rows;
  }
  const real = enc.reduce((n, e) => n + e.ids.length, 0);
  return {
    run: async () => {
      for (const b of batches) await session.run(b);
    },
    release: () => session.release(),
    real,
  };
}

/** Padded tokens transformers.js computes in input order at `batchSize` (it pads to the longest). */
function paddedTokens(lengths, batchSize) {
  let n = 0;
  for (let i = 0; i < lengths.length; i += batchSize) n += Math.max(...lengths.slice(i, i + batchSize)) * Math.min(batchSize, lengths.length - i);
  return n;
}

async function transformersJs(modelDir, dtype, batchSize) {
  const tok = await AutoTokenizer.from_pretrained(modelDir, { local_files_only: true });
  const model = await AutoModelForSequenceClassification.from_pretrained(modelDir, {
    local_files_only: true,
    dtype,
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  const ms = await medianMs(async () => {
    for (let i = 0; i < docs.length; i += batchSize) {
      const part = docs.slice(i, i + batchSize);
      const inputs = tok(new Array(part.length).fill(query.text), { text_pair: part, padding: true, truncation: true, max_length: MAX });
      await model(inputs);
    }
  }, reps);
  await model.dispose();
  return ms;
}

const rows = [];
for (const { name, dir: modelDir } of models) for (const dtype of ['fp32', 'q8']) {
  const ce = await CrossEncoder.load(modelDir, { dtype, threads, cache: false, maxLength: MAX });
  const floorRun = await ortFloorRunner(ce.modelPath, dtype === 'fp32' ? 32 : 1, ce, 1024);  // crossrank's default plan
  const { ours, floor } = await interleavedMs({ ours: () => ce.score(query.text, docs), floor: floorRun.run }, reps);
  await floorRun.release();
  const lengths = (await ce.tokenizer.encodeBatch(docs.map((d) => [query.text, d]), { maxLength: MAX })).map((e) => e.ids.length);
  const tjs1 = await transformersJs(modelDir, dtype, 1);
  const tjs32 = await transformersJs(modelDir, dtype, 32);
  const tjsAll = await transformersJs(modelDir, dtype, docs.length);
  const tjs = Math.min(tjs1, tjs32, tjsAll);
  ce.dispose();
  const pps = (ms) => docs.length / (ms / 1000);
  rows.push({ name, dtype, ours, floor, tjs1, tjs32, tjsAll, tjs });
  console.log(`\n${name} ${dtype}:`);
  console.log(`  transformers.js batch 1       ${tjs1.toFixed(1).padStart(9)} ms  ${pps(tjs1).toFixed(1).padStart(8)} pairs/s`);
  console.log(`  transformers.js batch 32      ${tjs32.toFixed(1).padStart(9)} ms  ${pps(tjs32).toFixed(1).padStart(8)} pairs/s`);
  console.log(`  transformers.js batch ${String(docs.length).padEnd(7)} ${tjsAll.toFixed(1).padStart(9)} ms  ${pps(tjsAll).toFixed(1).padStart(8)} pairs/s`);
  console.log(`  ORT floor (pre-tokenized)     ${floor.toFixed(1).padStart(9)} ms  ${pps(floor).toFixed(1).padStart(8)} pairs/s`);
  console.log(`  crossrank                     ${ours.toFixed(1).padStart(9)} ms  ${pps(ours).toFixed(1).padStart(8)} pairs/s  ${(pps(ours) / threads).toFixed(1)} pairs/s per core`);
  console.log(`  tokens: ${floorRun.real} real; transformers.js batch 32 computes ${paddedTokens(lengths, 32)}, batch ${docs.length} ${paddedTokens(lengths, docs.length)}`);
  console.log(`  crossrank / ORT floor (time): ${ratio(ours, floor)}   (goal ≤ 1.05×)`);
  console.log(`  ORT floor vs transformers.js: ${ratio(tjs, floor)}   (the most any ORT-based engine can gain here)`);
  console.log(`  speed-up vs transformers.js:  ${ratio(tjs, ours)}   (goal ≥ ${dtype === 'fp32' ? '2.8' : '3.5'}×)`);
}
