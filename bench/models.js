// Cross-encoders of the shapes rerankers have besides BERT, with random weights, generated into the
// ignored .models/ folder (fp32 and int8) from ../shared's tokenizers; shared by bench/rerank.js
// and test/cross-encoder.parity.test.ts:
// - XLM-RoBERTa (scripts/make_xlmr_model.py): Unigram in XLM-R's layout from the T5 tokenizer;
// - ModernBERT (scripts/make_modernbert_model.py): byte-level BPE from the RoBERTa tokenizer.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sharedPath } from './common.js';

const MINILM = ['--layers', '6', '--hidden', '384', '--heads', '12', '--ffn', '1536', '--std', '0.05'];

function generate(kind, script, tokenizerPath, shape) {
  const tokenizer = sharedPath(...tokenizerPath);
  if (!tokenizer) return null;
  const dir = join(repoRoot, '.models', `${kind}-${shape}-cross`);
  const tool = join(repoRoot, 'scripts', script);
  for (const [file, extra] of [['model.onnx', []], ['model_quantized.onnx', ['--quant']]]) {
    if (!existsSync(join(dir, 'onnx', file))) {
      execFileSync('/usr/bin/python3', [tool, dir, '--tokenizer', tokenizer, ...(shape === 'minilm' ? MINILM : []), ...extra], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
  }
  return dir;
}

/** The XLM-R-shaped model directory ('tiny' or 'minilm'), or null when ../shared's T5 tokenizer is absent. */
export function xlmrCross(shape = 'tiny') {
  return generate('xlmr', 'make_xlmr_model.py', ['fixtures', 'tokenizers', 'unigram', 'tokenizer.json'], shape);
}

/** The ModernBERT-shaped model directory, or null when ../shared's RoBERTa tokenizer is absent. */
export function modernbertCross(shape = 'tiny') {
  return generate('modernbert', 'make_modernbert_model.py', ['fixtures', 'tokenizers', 'bpe', 'tokenizer.json'], shape);
}
