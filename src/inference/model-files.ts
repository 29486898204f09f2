/**
 * Finding a model's files in a Hugging Face-layout directory: `config.json`, `tokenizer.json`,
 * `tokenizer_config.json` and `onnx/model*.onnx`, with the same dtype → file naming as
 * transformers.js.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CrossrankError, validateOneOf, validateString } from '../errors.js';

export type Dtype = 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'];

const SUFFIX: Record<Dtype, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};

/**
 * Whether a model's scores depend on what else shares its batch. ORT's dynamic quantization picks
 * one activation scale per tensor, so padding and neighbours move int8/int4 scores.
 */
export function batchSensitive(dtype: Dtype, file: string): boolean {
  if (dtype !== 'fp32' && dtype !== 'fp16') return true;
  return /quant|int8|uint8|q4|bnb4/i.test(file);
}

export interface ModelConfig {
  modelType: string | undefined;
  /** config.json's `architectures` (empty when it has none). */
  architectures: string[];
  numLabels: number;
  labels: string[];
  maxPositionEmbeddings: number | undefined;
  /** tokenizer_config.json's model_max_length when it is a real limit (not the 1e30 sentinel). */
  modelMaxLength: number | undefined;
}

export interface ModelFiles {
  dir: string;
  onnx: string;
  tokenizer: string;
  dtype: Dtype;
  config: ModelConfig;
}

function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CrossrankError('ERR_MODEL_CONFIG', `cannot parse ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Positions a RoBERTa-family model (RoBERTa, XLM-R, CamemBERT) cannot use for tokens: they count
 * from padding_idx + 1, so 514 position embeddings hold 512 tokens.
 */
function positionOffset(cfg: Record<string, unknown>): number {
  const roberta = typeof cfg.model_type === 'string' && /roberta|camembert/.test(cfg.model_type);
  return roberta && typeof cfg.pad_token_id === 'number' ? cfg.pad_token_id + 1 : 0;
}

/** Most labels a model's config.json may declare. */
export const MAX_LABELS = 65_536;

export function readModelConfig(dir: string): ModelConfig {
  const cfg = readJson(join(dir, 'config.json')) ?? {};
  const tcfg = readJson(join(dir, 'tokenizer_config.json')) ?? {};
  const id2label = cfg.id2label as Record<string, string> | undefined;
  let labels: string[] = [];
  if (id2label && typeof id2label === 'object') {
    labels = Object.entries(id2label)
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([, v]) => String(v));
  }
  const numLabels = cfg.num_labels === undefined || cfg.num_labels === null ? labels.length || 1 : cfg.num_labels;
  // A label count is a small positive integer; a crafted one (1e9) must not become a label array.
  if (typeof numLabels !== 'number' || !Number.isInteger(numLabels) || numLabels < 1 || numLabels > MAX_LABELS) {
    throw new CrossrankError(
      'ERR_MODEL_CONFIG',
      `${join(dir, 'config.json')}: "num_labels" must be an integer from 1 to ${MAX_LABELS}, got ${JSON.stringify(numLabels)}`,
    );
  }
  if (labels.length > MAX_LABELS) {
    throw new CrossrankError('ERR_MODEL_CONFIG', `${join(dir, 'config.json')}: "id2label" has ${labels.length} entries, more than ${MAX_LABELS}`);
  }
  const mml = tcfg.model_max_length;
  return {
    modelType: typeof cfg.model_type === 'string' ? cfg.model_type : undefined,
    architectures: Array.isArray(cfg.architectures) ? cfg.architectures.filter((a): a is string => typeof a === 'string') : [],
    numLabels,
    labels: labels.length ? labels : Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`),
    maxPositionEmbeddings: typeof cfg.max_position_embeddings === 'number' ? cfg.max_position_embeddings - positionOffset(cfg) : undefined,
    modelMaxLength: typeof mml === 'number' && mml > 0 && mml < 1e7 ? mml : undefined,
  };
}

/**
 * Refuse a model of the other kind, judged by config.json's `architectures` (a model without them
 * passes): a cross-encoder has a sequence-classification head, an embedding model has none.
 */
export function checkModelKind(files: ModelFiles, kind: 'CrossEncoder' | 'BiEncoder'): void {
  const archs = files.config.architectures;
  if (!archs.length) return;
  const classifier = archs.some((a) => a.endsWith('ForSequenceClassification'));
  if (kind === 'CrossEncoder' && !classifier) {
    throw new CrossrankError('ERR_WRONG_MODEL_KIND', `${files.dir} is an embedding model (${archs.join(', ')}: no classification head), not a cross-encoder: load it with BiEncoder.load`);
  }
  if (kind === 'BiEncoder' && classifier) {
    throw new CrossrankError('ERR_WRONG_MODEL_KIND', `${files.dir} is a cross-encoder (${archs.join(', ')}), not an embedding model: load it with CrossEncoder.load`);
  }
}

/** ONNX files to look for, relative to the model's root, in order. */
export function onnxCandidates(dtype: Dtype, modelFile?: string): string[] {
  return modelFile ? [modelFile] : [`onnx/model${SUFFIX[dtype]}.onnx`, `model${SUFFIX[dtype]}.onnx`];
}

/** Files a model directory must or may hold besides its ONNX file (what a hub download fetches). */
export const REQUIRED_FILES = ['tokenizer.json', 'config.json'];
export const OPTIONAL_FILES = ['tokenizer_config.json', 'special_tokens_map.json'];

/**
 * Resolve a local model directory (Hugging Face layout; hub ids are fetched by
 * {@link locateModel} first). `modelFile` overrides the dtype naming. Throws ERR_MODEL_NOT_FOUND
 * naming every file it looked for.
 */
export function resolveModelFiles(dirOrId: string, dtype: Dtype, modelFile?: string): ModelFiles {
  validateString(dirOrId, 'model');
  validateOneOf(dtype, 'options.dtype', DTYPES);
  const dir = resolve(dirOrId);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CrossrankError('ERR_MODEL_NOT_FOUND', `model directory not found: ${dir}`);
  }
  let onnx: string | undefined;
  const tried: string[] = [];
  const candidates = onnxCandidates(dtype, modelFile).map((f) => join(dir, f));
  for (const c of candidates) {
    tried.push(c);
    if (existsSync(c)) {
      onnx = c;
      break;
    }
  }
  if (!onnx) {
    throw new CrossrankError('ERR_MODEL_NOT_FOUND', `no ONNX model for dtype '${dtype}': looked for ${tried.join(', ')}`);
  }
  const tokenizer = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizer)) {
    throw new CrossrankError('ERR_MODEL_NOT_FOUND', `tokenizer file not found: ${tokenizer}`);
  }
  return { dir, onnx, tokenizer, dtype, config: readModelConfig(dir) };
}
