/**
 * The collection manifest (collection.json): which files hold checkpoint `seq` and how the
 * collection was built. Read through a JSON schema, so a damaged or hand-edited manifest is a
 * typed error and never a path outside the directory: file names are plain names of the exact
 * form the writer gives them, carrying the manifest's own checkpoint number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { CrossrankError } from '../errors.js';
import type { Bm25Options } from '../index/bm25.js';
import type { Metric } from '../index/faiss-index.js';
import type { BiEncoderOptions } from '../inference/bi-encoder.js';
import { DTYPES } from '../inference/model-files.js';

export const MANIFEST = 'collection.json';
export const FORMAT = 'crossrank-collection';
/** The manifest version this code writes; version 1 collections are migrated when opened for writing. */
export const VERSION = 2;

/** Model options kept in the manifest (download settings and tokens never are). */
export type ModelOptions = Pick<BiEncoderOptions, 'pooling' | 'normalize' | 'dtype' | 'modelFile' | 'maxLength' | 'threads' | 'batchSize' | 'maxBatchTokens'>;

export interface EmbedderSpec {
  /** The model directory it was loaded from when the collection was created (absolute). */
  path: string;
  /** The same directory relative to the collection's, so a collection moved with its model still finds it. */
  relativePath: string;
  /** For a Hugging Face model: its id and the snapshot's commit, to find it again in any cache. */
  hub?: { id: string; revision: string };
  options: ModelOptions;
}

export interface DenseSpec {
  factory: string;
  metric: Metric;
  dim: number;
  embedder: EmbedderSpec | null;
  trainSize?: number;
}

export interface CheckpointFiles {
  faiss: string | null;
  bm25: string | null;
  /** BM25 document number → rowid for `bm25` (see IdMap). */
  bm25Ids: string | null;
}

export interface Manifest {
  format: typeof FORMAT;
  version: 2;
  seq: number;
  files: CheckpointFiles;
  /** Vectors in the dense file whose documents are gone (indexes that cannot remove, e.g. HNSW). */
  stale: number;
  dense: DenseSpec | null;
  bm25: Bm25Options | null;
}

/** What crossrank 0.1 wrote (no stale count, no id map, model path as given). */
export interface ManifestV1 {
  format: typeof FORMAT;
  version: 1;
  seq: number;
  files: { faiss: string | null; bm25: string | null };
  dense: { factory: string; metric: Metric; dim: number; embedder: { model: string; options: ModelOptions } | null; trainSize?: number } | null;
  bm25: Bm25Options | null;
}

const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/** A nullable object of exactly these properties. */
const record = (properties: Record<string, unknown>, required: string[], nullable = false) =>
  ({ type: 'object', additionalProperties: false, required, properties, ...(nullable ? { nullable: true } : {}) }) as const;

/** Checkpoint file names: `<stem>.<seq>.<ext>`, plain names inside the directory. */
const fileName = (stem: string, ext: string) => ({ type: 'string', pattern: `^${stem}\\.[0-9]{1,15}\\.${ext}$`, nullable: true }) as const;

const modelOptions = record(
  {
    pooling: { type: 'string', enum: ['mean', 'cls', 'max'], nullable: true },
    normalize: { type: 'boolean', nullable: true },
    dtype: { type: 'string', enum: DTYPES, nullable: true },
    // A file inside the model directory: no absolute path, no way up.
    modelFile: { type: 'string', pattern: '^(?!/)(?!.*(^|/)\\.\\.(/|$)).+$', nullable: true },
    maxLength: { type: 'integer', minimum: 1, nullable: true },
    threads: { type: 'integer', minimum: 0, nullable: true },
    batchSize: { type: 'integer', minimum: 1, nullable: true },
    maxBatchTokens: { type: 'integer', minimum: 1, nullable: true },
  },
  [],
);

const bm25Options = record(
  {
    k1: { type: 'number', minimum: 0, nullable: true },
    b: { type: 'number', minimum: 0, maximum: 1, nullable: true },
    stemmer: { type: 'string', enum: ['porter', 'english', 'none'], nullable: true },
    stopwords: { type: 'boolean', nullable: true },
  },
  [],
  true,
);

/** The manifest of one version: its files and embedder entries differ, the rest is shared. */
const manifestSchema = (version: number, files: Record<string, unknown>, embedder: ReturnType<typeof record>, extra: Record<string, unknown> = {}) =>
  record(
    {
      format: { type: 'string', const: FORMAT },
      version: { type: 'integer', const: version },
      seq: count,
      files: record(files, Object.keys(files)),
      ...extra,
      dense: record(
        {
          factory: { type: 'string', minLength: 1, maxLength: 256 },
          metric: { type: 'string', enum: ['ip', 'l2'] },
          dim: { type: 'integer', minimum: 1, maximum: 65536 },
          trainSize: { type: 'integer', minimum: 1, nullable: true },
          embedder,
        },
        ['factory', 'metric', 'dim', 'embedder'],
        true,
      ),
      bm25: bm25Options,
    },
    ['format', 'version', 'seq', 'files', ...Object.keys(extra), 'dense', 'bm25'],
  );

const v2Schema = manifestSchema(
  2,
  { faiss: fileName('vectors', 'faiss'), bm25: fileName('bm25', 'bin'), bm25Ids: fileName('bm25', 'ids') },
  record(
    {
      path: { type: 'string', pattern: '^/' },
      relativePath: { type: 'string', pattern: '^(?!/).+$' },
      hub: record({ id: { type: 'string', pattern: '^[A-Za-z0-9][\\w.-]*(/[\\w.-]+)?$' }, revision: { type: 'string', pattern: '^[0-9a-f]{40}$' } }, ['id', 'revision'], true),
      options: modelOptions,
    },
    ['path', 'relativePath', 'options'],
    true,
  ),
  { stale: count },
);

const v1Schema = manifestSchema(
  1,
  { faiss: fileName('vectors', 'faiss'), bm25: fileName('bm25', 'bin') },
  record({ model: { type: 'string', minLength: 1 }, options: modelOptions }, ['model', 'options'], true),
);

const ajv = new Ajv({ allErrors: false, strict: true });
const validators: { 1: ValidateFunction<ManifestV1>; 2: ValidateFunction<Manifest> } = {
  1: ajv.compile<ManifestV1>(v1Schema),
  2: ajv.compile<Manifest>(v2Schema),
};

function corrupt(path: string, what: string, cause?: unknown): CrossrankError {
  return new CrossrankError('ERR_CORRUPT_COLLECTION', `${path}: ${what}`, cause === undefined ? undefined : { cause });
}

/** Cross-field rules the schema cannot say: file names carry the checkpoint number, parts agree. */
function checkConsistency(path: string, m: Manifest | ManifestV1): void {
  const files = m.files as Partial<CheckpointFiles>;
  for (const [key, name] of Object.entries(files)) {
    if (name !== null && name !== undefined && Number(name.split('.')[1]) !== m.seq) {
      throw corrupt(path, `files.${key} "${name}" does not belong to checkpoint ${m.seq}`);
    }
  }
  if (!m.dense && files.faiss) throw corrupt(path, 'files.faiss is set but the collection has no dense index');
  if (!m.bm25 && (files.bm25 || files.bm25Ids)) throw corrupt(path, 'files.bm25 is set but the collection has no BM25 index');
  if (m.version === 2) {
    if (m.bm25 && m.seq > 0 && (!m.files.bm25 || !m.files.bm25Ids)) throw corrupt(path, `checkpoint ${m.seq} names no BM25 file or id map`);
    if (Boolean(m.files.bm25) !== Boolean(m.files.bm25Ids)) throw corrupt(path, 'files.bm25 and files.bm25Ids must be set together');
    if (m.stale > 0 && !m.files.faiss) throw corrupt(path, `stale is ${m.stale} but there is no dense index file`);
  }
  if (!m.dense && !m.bm25) throw corrupt(path, 'the collection has neither a dense nor a BM25 index');
}

/**
 * Read and validate `dir`/collection.json. ERR_COLLECTION_NOT_FOUND when absent,
 * ERR_COLLECTION_FORMAT for a version this code does not know, ERR_CORRUPT_COLLECTION for anything
 * else that is not a manifest this code wrote.
 */
export function readManifest(dir: string): Manifest | ManifestV1 {
  const path = join(dir, MANIFEST);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CrossrankError('ERR_COLLECTION_NOT_FOUND', `no collection in ${dir} (missing ${MANIFEST})`);
    throw new CrossrankError('ERR_COLLECTION_IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw corrupt(path, `not JSON (${(e as Error).message})`, e);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json) || (json as { format?: unknown }).format !== FORMAT) {
    throw corrupt(path, `not a crossrank collection manifest (expected an object with "format": "${FORMAT}")`);
  }
  const version = (json as { version?: unknown }).version;
  if (version !== 1 && version !== 2) {
    throw new CrossrankError('ERR_COLLECTION_FORMAT', `${path} has format version ${JSON.stringify(version)}; this crossrank reads versions 1 and 2`);
  }
  const validate = validators[version];
  if (!validate(json)) {
    const e = validate.errors![0]!;
    throw corrupt(path, `${e.instancePath || '/'} ${e.message}${e.params && 'allowedValues' in e.params ? ` (${JSON.stringify(e.params.allowedValues)})` : ''}`);
  }
  checkConsistency(path, json);
  return json;
}
