/**
 * What /info says about the loaded models: a name (the hub id, or the model directory's name),
 * the dtype, the token limit and the SHA-256 of the weights file, never a local path.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, dirname } from 'node:path';
import { BiEncoder } from '../inference/bi-encoder.js';
import { CrossEncoder } from '../inference/cross-encoder.js';
import type { Scorer } from '../inference/scorer.js';
import { RerankPool } from '../pool/rerank-pool.js';

export interface ModelFacts {
  id: string;
  dtype: string | null;
  sha256: string | null;
  maxLength: number;
}

/** 'org/name' for a model in the Hugging Face cache, else the model directory's own name. */
export function modelName(onnxPath: string): string {
  const hub = /models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]/.exec(onnxPath);
  if (hub) return `${hub[1]}/${hub[2]}`;
  let dir = dirname(onnxPath);
  if (basename(dir) === 'onnx') dir = dirname(dir);
  return basename(dir);
}

const DTYPE_SUFFIX: [RegExp, string][] = [[/_quantized\.onnx$/, 'q8'], [/_fp16\.onnx$/, 'fp16'], [/_int8\.onnx$/, 'int8'], [/_uint8\.onnx$/, 'uint8'], [/_q4f16\.onnx$/, 'q4f16'], [/_q4\.onnx$/, 'q4'], [/_bnb4\.onnx$/, 'bnb4']];

function dtypeOf(onnxPath: string): string {
  return DTYPE_SUFFIX.find(([re]) => re.test(onnxPath))?.[1] ?? 'fp32';
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (b) => h.update(b))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Facts about a reranker or embedder; `id` overrides the name derived from its files. */
export async function describeModel(model: Scorer | BiEncoder, id: string | undefined): Promise<ModelFacts> {
  let file: string | null = null;
  let dtype: string | null = null;
  if (model instanceof CrossEncoder) [file, dtype] = [model.modelPath, model.dtype];
  else if (model instanceof RerankPool) [file, dtype] = [model.model.files.onnx, model.model.files.dtype];
  else if (model instanceof BiEncoder) [file, dtype] = [model.modelPath, dtypeOf(model.modelPath)];
  return {
    id: id ?? (file ? modelName(file) : 'crossrank'),
    dtype,
    sha256: file ? await sha256File(file) : null,
    maxLength: model.maxLength,
  };
}
