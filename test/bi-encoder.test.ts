// BiEncoder: embeddings equal transformers.js feature-extraction (mean pooling, normalized) on the
// same ONNX file; pooling options; sentence-transformers configs; errors.
import { describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BiEncoder, loadBeir } from '../src/index.js';
import { requireShared } from './shared.js';

describe('BiEncoder', () => {
  it('equals transformers.js feature-extraction (mean, normalize) within 1e-5 on 300 ArguAna texts that fit', async () => {
    const dir = requireShared('models/bert-tiny-bi');
    const c = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    const bi = await BiEncoder.load(dir);
    // transformers.js cuts long single texts after adding special tokens (losing [SEP]), unlike
    // Hugging Face tokenizers and sentence-transformers: texts that need cutting are checked below.
    const all = [...c.queries.map((q) => q.text), ...c.docs.map((d) => `${d.title} ${d.text}`)];
    const texts = all.filter((t) => bi.tokenizer.encode(t, null, { truncation: false }).ids.length <= 512).slice(0, 300);
    expect(texts.length).toBe(300);
    expect(bi.pooling).toBe('mean');
    expect(bi.normalize).toBe(true);
    const ours = await bi.embed(texts);
    expect(bi.dim).toBe(32);
    expect(ours.length).toBe(texts.length * 32);
    const { pipeline } = await import('@huggingface/transformers');
    const fe = await pipeline('feature-extraction', dir, { local_files_only: true, dtype: 'fp32' });
    let max = 0;
    for (let i = 0; i < texts.length; i += 25) {
      const ref = await fe(texts.slice(i, i + 25), { pooling: 'mean', normalize: true });
      const data = ref.data as Float32Array;
      for (let k = 0; k < data.length; k++) max = Math.max(max, Math.abs(data[k]! - ours[i * 32 + k]!));
    }
    expect(max).toBeLessThan(1e-5);
    // Order and batch composition do not change a text's vector.
    const alone = await bi.embed([texts[7]!]);
    expect(Array.from(alone)).toEqual(Array.from(ours.subarray(7 * 32, 8 * 32)));
  });

  it('texts longer than maxLength equal ORT on the tokenizers package ids, mean-pooled', async () => {
    const dir = requireShared('models/bert-tiny-bi');
    const c = loadBeir(requireShared('fixtures/ir/beir-arguana'));
    const bi = await BiEncoder.load(dir);
    const long = c.docs.map((d) => `${d.title} ${d.text}`).filter((t) => bi.tokenizer.encode(t, null, { truncation: false }).ids.length > 512).slice(0, 20);
    expect(long.length).toBe(20);
    const ours = await bi.embed(long);
    const ort = await import('onnxruntime-node');
    const { createRequire } = await import('node:module');
    const hf = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
    const ref = hf.Tokenizer.fromFile(join(dir, 'tokenizer.json'));
    ref.setTruncation(512);
    const session = await ort.InferenceSession.create(join(dir, 'onnx/model.onnx'));
    let max = 0;
    for (const [i, t] of long.entries()) {
      const e = await ref.encode(t);
      const ids = e.getIds();
      const tensor = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, BigInt), [1, a.length]);
      const out = await session.run({ input_ids: tensor(ids), attention_mask: tensor(e.getAttentionMask()), token_type_ids: tensor(e.getTypeIds()) });
      const h = out.last_hidden_state!.data as Float32Array;
      const v = new Float64Array(32);
      for (let p = 0; p < ids.length; p++) for (let d = 0; d < 32; d++) v[d]! += h[p * 32 + d]! / ids.length;
      const norm = Math.hypot(...v);
      for (let d = 0; d < 32; d++) max = Math.max(max, Math.abs(v[d]! / norm - ours[i * 32 + d]!));
    }
    expect(max).toBeLessThan(1e-5);
    await session.release();
  });

  it('cls and max pooling, no normalisation, and sentence-transformers configuration files', async () => {
    const src = requireShared('models/bert-tiny-bi');
    const mean = await BiEncoder.load(src, { normalize: false });
    const cls = await BiEncoder.load(src, { pooling: 'cls', normalize: false });
    const max = await BiEncoder.load(src, { pooling: 'max', normalize: false });
    const [m, c, x] = await Promise.all([mean, cls, max].map((b) => b.embed(['pooling differs here'])));
    let norm = 0;
    for (const v of m!) norm += v * v;
    expect(Math.abs(Math.sqrt(norm) - 1)).toBeGreaterThan(1e-3);
    expect(Array.from(c!)).not.toEqual(Array.from(m!));
    for (let d = 0; d < 32; d++) expect(x![d]).toBeGreaterThanOrEqual(m![d]!);  // max >= mean per dim

    const dir = mkdtempSync(join(tmpdir(), 'crossrank-st-'));
    cpSync(src, dir, { recursive: true });
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]));
    mkdirSync(join(dir, '1_Pooling'));
    writeFileSync(join(dir, '1_Pooling/config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }));
    const st = await BiEncoder.load(dir);
    expect(st.pooling).toBe('cls');
    expect(st.normalize).toBe(false);  // no Normalize module listed
    expect(Array.from(await st.embed(['pooling differs here']))).toEqual(Array.from(c!));
  });

  it('rejects bad input', async () => {
    const bi = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
    await expect(bi.embed('text' as never)).rejects.toThrow(/"texts"/);
    await expect(bi.embed(['ok', 1] as never)).rejects.toThrow(/"texts\[1\]"/);
    await expect(BiEncoder.load(requireShared('models/bert-tiny-bi'), { pooling: 'sum' as never })).rejects.toThrow(/options.pooling/);
    expect((await bi.embed([])).length).toBe(0);
  });
});
