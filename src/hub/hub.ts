/**
 * Models by Hugging Face id ("cross-encoder/ms-marco-MiniLM-L6-v2"): the files a model needs are
 * downloaded with @huggingface/hub into the cache the Python and Rust libraries share
 * (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub; models--org--name/{blobs,refs,
 * snapshots/<commit>}), and the snapshot directory is loaded like any local directory.
 *
 * Like huggingface_hub: `revision` is a branch, tag or commit; HF_HUB_OFFLINE=1 (or
 * `localFilesOnly`) never touches the network; when the hub cannot be reached, a snapshot already
 * in the cache for that revision is used (with a warning); HF_ENDPOINT points at a mirror; HF_TOKEN
 * authenticates for private or gated models. Only the files this model needs are fetched: one ONNX
 * file (by dtype), its external data if any, the tokenizer and config files.
 */
import { downloadFileToCacheDir, modelInfo } from '@huggingface/hub';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { CrossrankError, validateBoolean, validateObject, validateString } from '../errors.js';

/** Where and how to fetch a model given by id. Every field has an environment default. */
export interface HubOptions {
  /** Branch, tag or commit hash. Default 'main'. */
  revision?: string;
  /** Cache root. Default HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Use the cache only, never the network. Default: HF_HUB_OFFLINE is 1/true/yes. */
  localFilesOnly?: boolean;
  /** Access token for private or gated models. Default HF_TOKEN. */
  token?: string;
  /** Hub address. Default HF_ENDPOINT, else https://huggingface.co. */
  hubUrl?: string;
  /** Called as a file's bytes arrive (not for files already cached). */
  onDownload?: (progress: DownloadProgress) => void;
}

export interface DownloadProgress {
  /** Path of the file inside the repository. */
  file: string;
  loaded: number;
  /** From Content-Length, when the server sends it. */
  total: number | undefined;
}

/** What a model needs from its repository; paths relative to its root. */
export interface ModelWants {
  /** ONNX files to try, in order; the first the repository has is fetched. */
  onnx: string[];
  /** Fetched, or the load fails. */
  required: string[];
  /** Fetched when the repository has them. */
  optional: string[];
}

/** Downloads in progress in this process, by cache folder, commit and file. */
const inFlight = new Map<string, Promise<string>>();

const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** Whether `s` reads as a hub id (org/name or a legacy bare name) rather than a path. */
export function looksLikeHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.includes('..') && !s.startsWith('.');
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

export function hubCacheDir(options: HubOptions = {}): string {
  if (options.cacheDir) return resolve(options.cacheDir);
  const env = process.env;
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  if (env.HF_HOME) return resolve(env.HF_HOME, 'hub');
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'huggingface', 'hub');
}

function validateHubOptions(o: HubOptions): void {
  validateObject(o as unknown, 'options');
  if (o.revision !== undefined) {
    validateString(o.revision, 'options.revision');
    // Branch and tag names may hold '/', never '..' (the name becomes a path under refs/).
    if (!/^[\w./-]+$/.test(o.revision) || o.revision.split('/').includes('..')) {
      throw new CrossrankError('ERR_INVALID_ARG_VALUE', `"options.revision" must be a branch, tag or commit name; got ${JSON.stringify(o.revision)}`);
    }
  }
  if (o.cacheDir !== undefined) validateString(o.cacheDir, 'options.cacheDir');
  if (o.localFilesOnly !== undefined) validateBoolean(o.localFilesOnly, 'options.localFilesOnly');
  if (o.token !== undefined) validateString(o.token, 'options.token');
  if (o.hubUrl !== undefined) validateString(o.hubUrl, 'options.hubUrl');
  if (o.onDownload !== undefined && typeof o.onDownload !== 'function') {
    throw new CrossrankError('ERR_INVALID_ARG_TYPE', `"options.onDownload" must be a function`);
  }
}

/** The repository's folder in the cache, as huggingface_hub names it. */
function repoFolder(cache: string, id: string): string {
  return join(cache, `models--${id.split('/').join('--')}`);
}

/** The cached snapshot of `revision`, if the cache knows which commit it is. */
function cachedSnapshot(folder: string, revision: string): string | undefined {
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const ref = join(folder, 'refs', revision);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, 'utf8').trim();
  }
  const dir = join(folder, 'snapshots', commit);
  return existsSync(dir) ? dir : undefined;
}

/** Files of `wants` missing from a snapshot directory (an ONNX file counts if any candidate is there). */
function missingFrom(dir: string, wants: ModelWants): string[] {
  const missing = wants.required.filter((f) => !existsSync(join(dir, f)));
  if (!wants.onnx.some((f) => existsSync(join(dir, f)))) missing.push(wants.onnx.join(' or '));
  return missing;
}

/** Connection failures worth one more try (a kept-alive socket the server closed meanwhile). */
function transient(e: unknown): boolean {
  const code = (e as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === 'string' && ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code);
}

/**
 * The fetch handed to @huggingface/hub: retries a request twice on a dropped connection (every
 * request it makes is idempotent), and reports the bytes of file downloads (the hub's /resolve/
 * URLs, `fileOf` names the file) as they arrive.
 */
function hubFetch(onDownload: ((p: DownloadProgress) => void) | undefined, fileOf: (url: string) => string | undefined): typeof fetch {
  const retrying: typeof fetch = async (input, init) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(input, init);
      } catch (e) {
        if (attempt >= 2 || !transient(e)) throw e;
      }
    }
  };
  if (!onDownload) return retrying;
  return async (input, init) => {
    const res = await retrying(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const file = fileOf(url);
    const probe = new Headers(init?.headers).get('Range') === 'bytes=0-0';  // a size probe, not the download
    if (!file || probe || !res.body) return res;
    const length = res.headers.get('content-length');
    const total = length === null ? undefined : Number(length);
    let loaded = 0;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          loaded += chunk.byteLength;
          onDownload({ file, loaded, total });
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/**
 * Whether a downloaded blob holds what its name (the hub's ETag) promises: a 64-hex name is the
 * file's SHA-256 (LFS files), a 40-hex name its git blob id (SHA-1 of "blob <size>\0" + bytes).
 * Other names (none the hub gives for a file with an LFS or git id) cannot be checked: true.
 */
async function blobIntact(blob: string): Promise<boolean> {
  const name = basename(blob);
  let hash;
  if (/^[0-9a-f]{64}$/.test(name)) hash = createHash('sha256');
  else if (/^[0-9a-f]{40}$/.test(name)) hash = createHash('sha1').update(`blob ${statSync(blob).size}\0`);
  else return true;
  for await (const chunk of createReadStream(blob)) hash.update(chunk as Buffer);
  return hash.digest('hex') === name;
}

/** An error from @huggingface/hub or fetch: an HTTP status when the hub answered, else undefined. */
function httpStatus(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown }).statusCode;
  return typeof s === 'number' ? s : undefined;
}

/**
 * A local directory holding what `wants` lists for `dirOrId`: the directory itself when it exists,
 * else the hub snapshot of that id (downloading what the cache lacks).
 */
export async function locateModel(dirOrId: string, wants: ModelWants, options: HubOptions = {}): Promise<string> {
  validateString(dirOrId, 'model');
  validateHubOptions(options);
  const local = resolve(dirOrId);
  if (existsSync(local) && statSync(local).isDirectory()) return local;
  if (!looksLikeHubId(dirOrId)) throw new CrossrankError('ERR_MODEL_NOT_FOUND', `model directory not found: ${local}`);

  const id = dirOrId;
  const revision = options.revision ?? 'main';
  const cache = hubCacheDir(options);
  const folder = repoFolder(cache, id);
  const hubUrl = (options.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const accessToken = options.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const fromCache = (why: string): string => {
    const snap = cachedSnapshot(folder, revision);
    const missing = snap ? missingFrom(snap, wants) : [];
    if (snap && missing.length === 0) return snap;
    throw new CrossrankError(
      'ERR_MODEL_NOT_CACHED',
      `${why}, and the cache (${folder}) has ${snap ? `revision '${revision}' without ${missing.join(', ')}` : `no snapshot of revision '${revision}'`}`,
    );
  };

  if (options.localFilesOnly ?? truthy(process.env.HF_HUB_OFFLINE)) {
    return fromCache(`"${id}" is not a local directory and hub access is off (localFilesOnly / HF_HUB_OFFLINE)`);
  }

  // Which commit `revision` is, and which files it has.
  const prefix = (commit: string) => `${hubUrl}/${id}/resolve/${commit}/`;
  let sha: unknown;
  const fetchFn = hubFetch(options.onDownload, (url) =>
    typeof sha === 'string' && url.startsWith(prefix(sha)) ? decodeURIComponent(url.slice(prefix(sha).length)) : undefined,
  );
  let files: Set<string>;
  try {
    const info = await modelInfo({ name: id, revision, hubUrl, accessToken, additionalFields: ['sha', 'filePaths'], fetch: fetchFn });
    sha = (info as { sha?: unknown }).sha;
    files = new Set(info.filePaths ?? []);
  } catch (e) {
    const status = httpStatus(e);
    if (status === 401 || status === 403) {
      throw new CrossrankError(
        'ERR_HUB_AUTH',
        `${hubUrl} refused "${id}" (HTTP ${status}): a private or gated model needs an access token (options.token or HF_TOKEN)`,
        { cause: e },
      );
    }
    if (status === 404) {
      throw new CrossrankError(
        'ERR_MODEL_NOT_FOUND',
        `"${id}" is not a local directory (${local}), and ${hubUrl} has no model "${id}" at revision '${revision}' (HTTP 404)`,
        { cause: e },
      );
    }
    if (status !== undefined) throw new CrossrankError('ERR_HUB', `${hubUrl} answered HTTP ${status} for "${id}": ${(e as Error).message}`, { cause: e });
    // Unreachable: a complete cached snapshot of this revision will do, as in huggingface_hub.
    let snap: string;
    try {
      snap = fromCache(`cannot reach ${hubUrl} (${(e as Error).message})`);
    } catch (cacheErr) {
      throw new CrossrankError('ERR_HUB_UNREACHABLE', (cacheErr as Error).message, { cause: e });
    }
    process.emitWarning(`cannot reach ${hubUrl}; using the cached snapshot of "${id}" (${revision})`, { code: 'CROSSRANK_HUB_OFFLINE' });
    return snap;
  }
  if (typeof sha !== 'string' || !COMMIT.test(sha)) {
    throw new CrossrankError('ERR_HUB', `${hubUrl} gave no commit hash for "${id}" at revision '${revision}'`);
  }
  const commit = sha;

  const onnx = wants.onnx.find((f) => files.has(f));
  if (!onnx) {
    const have = [...files].filter((f) => f.endsWith('.onnx'));
    throw new CrossrankError(
      'ERR_MODEL_NOT_FOUND',
      `"${id}" (${revision}) has no ${wants.onnx.join(' or ')}` +
        (have.length ? `; its ONNX files: ${have.join(', ')} (choose one with options.modelFile)` : '; it has no ONNX export'),
    );
  }
  const absent = wants.required.filter((f) => !files.has(f));
  if (absent.length) throw new CrossrankError('ERR_MODEL_NOT_FOUND', `"${id}" (${revision}) has no ${absent.join(', ')}`);
  // ONNX external data (models over 2 GB) travels with its graph.
  const extra = [`${onnx}_data`, `${onnx}.data`].filter((f) => files.has(f));
  const needed = [onnx, ...extra, ...wants.required, ...wants.optional.filter((f) => files.has(f))];

  // refs/<branch or tag> → commit, so a later offline load finds this snapshot (written atomically).
  if (revision !== commit) {
    const ref = join(folder, 'refs', revision);
    mkdirSync(join(ref, '..'), { recursive: true });
    const tmp = `${ref}.tmp-${process.pid}`;
    writeFileSync(tmp, commit);
    renameSync(tmp, ref);
  }
  for (const path of needed) {
    const pointer = join(folder, 'snapshots', commit, path);
    try {
      // Loads of the same model at once (a pool and an encoder, say) share one download per file:
      // two writers of one `.incomplete` file would interleave.
      const key = JSON.stringify([folder, commit, path]);
      let pending = inFlight.get(key);
      if (!pending) {
        const cached = existsSync(pointer);
        pending = downloadFileToCacheDir({ repo: { type: 'model', name: id }, path, revision: commit, cacheDir: cache, hubUrl, accessToken, fetch: fetchFn })
          .then(async (file) => {
            // A file fetched now is checked against its hash before anything loads it (cached
            // ones were checked when they arrived); a bad one leaves the cache.
            const blob = realpathSync(file);
            if (!cached && !(await blobIntact(blob))) {
              rmSync(blob, { force: true });
              rmSync(pointer, { force: true });
              throw new CrossrankError('ERR_HUB_INTEGRITY', `${path} of "${id}" (${commit}) from ${hubUrl} does not match its hash ${basename(blob)}; removed from the cache — try again`);
            }
            return file;
          })
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      await pending;
    } catch (e) {
      if (e instanceof CrossrankError) throw e;
      const status = httpStatus(e);
      throw new CrossrankError(
        status === undefined ? 'ERR_HUB_UNREACHABLE' : 'ERR_HUB',
        `downloading ${path} of "${id}" (${commit}) from ${hubUrl} failed: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  return join(folder, 'snapshots', commit);
}
