// XLM-RoBERTa-shaped cross-encoders (random weights, a Unigram tokenizer in XLM-R's layout made from
// ../shared's T5 tokenizer) generated with scripts/make_xlmr_model.py into the ignored .models/
// folder, fp32 and int8. Shared by bench/rerank.js and test/cross-encoder.parity.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sharedPath } from './common.js';

const SHAPES = {
  tiny: [],
  minilm: ['--layers', '6', '--hidden', '384', '--heads', '12', '--ffn', '1536', '--std', '0.05'],
};

/** The model directory (generated on first use), or null when ../shared's T5 tokenizer is absent. */
export function xlmrCross(shape = 'tiny') {
  const tokenizer = sharedPath('fixtures', 'tokenizers', 'unigram', 'tokenizer.json');
  if (!tokenizer) return null;
  const dir = join(repoRoot, '.models', `xlmr-${shape}-cross`);
  const tool = join(repoRoot, 'scripts', 'make_xlmr_model.py');
  for (const [file, extra] of [['model.onnx', []], ['model_quantized.onnx', ['--quant']]]) {
    if (!existsSync(join(dir, 'onnx', file))) {
      execFileSync('/usr/bin/python3', [tool, dir, '--tokenizer', tokenizer, ...SHAPES[shape], ...extra], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
  }
  return dir;
}
