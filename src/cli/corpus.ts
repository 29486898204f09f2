/**
 * Read one's own corpus for `crossrank index`: a BEIR directory (corpus.jsonl[.gz]), a JSONL /
 * JSONL.gz file, a CSV or TSV file with a header row, a folder of .txt/.md files, or stdin (`-`).
 * Only documents are read; queries and qrels are `evaluate`'s business.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import type { CollectionDoc } from '../collection/collection.js';
import { CrossrankError } from '../errors.js';

export type CorpusFormat = 'jsonl' | 'csv' | 'tsv' | 'text';
export const CORPUS_FORMATS: readonly CorpusFormat[] = ['jsonl', 'csv', 'tsv', 'text'];
const TEXT_FILES = new Set(['.txt', '.md', '.markdown']);

export interface CorpusOptions {
  format?: CorpusFormat;
  /** Field (JSONL) or column (CSV/TSV) holding the id. Default `_id`, else `id`. */
  idField?: string;
  /** Field or column holding the text. Default `text`. */
  textField?: string;
  /** Field or column holding a title (optional; prefixed to the text). Default `title`. */
  titleField?: string;
}

export interface Corpus {
  docs: CollectionDoc[];
  /** What was read, in words: "corpus.jsonl.gz (BEIR)", "12 files in notes/" … */
  source: string;
  /** Files in a folder that were not read (not .txt/.md), so nothing is left out silently. */
  skipped: string[];
}

function formatError(where: string, message: string): CrossrankError {
  return new CrossrankError('ERR_CORPUS_FORMAT', `${where}: ${message}`);
}

/** Text of a file, gunzipped when its name ends in .gz; one coded error when it cannot be read. */
function readText(path: string): string {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new CrossrankError('ERR_CORPUS_NOT_FOUND', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (!path.endsWith('.gz')) return buf.toString('utf8');
  try {
    return gunzipSync(buf).toString('utf8');
  } catch (e) {
    throw new CrossrankError('ERR_CORPUS_FORMAT', `${path}: not a gzip file`, { cause: e });
  }
}

function pickFields(o: CorpusOptions, where: string, keys: string[]): { id: string; text: string; title: string } {
  const id = o.idField ?? (keys.includes('_id') ? '_id' : 'id');
  const text = o.textField ?? 'text';
  const title = o.titleField ?? 'title';
  if (!keys.includes(id)) throw formatError(where, `no "${id}" field${o.idField ? '' : ' (nor "_id")'}; name the id field with --id-field (fields: ${keys.join(', ') || 'none'})`);
  if (!keys.includes(text)) throw formatError(where, `no "${text}" field; name the text field with --text-field (fields: ${keys.join(', ') || 'none'})`);
  return { id, text, title };
}

function toDoc(r: Record<string, unknown>, f: { id: string; text: string; title: string }, where: string): CollectionDoc {
  const id = r[f.id];
  const text = r[f.text];
  if ((typeof id !== 'string' && typeof id !== 'number') || String(id) === '') throw formatError(where, `"${f.id}" must be a non-empty string or number, got ${JSON.stringify(id) ?? 'nothing'}`);
  if (typeof text !== 'string') throw formatError(where, `"${f.text}" must be a string, got ${JSON.stringify(text) ?? 'nothing'}`);
  const title = typeof r[f.title] === 'string' ? (r[f.title] as string) : '';
  const metadata = r.metadata && typeof r.metadata === 'object' && !Array.isArray(r.metadata) ? (r.metadata as Record<string, unknown>) : {};
  const body = `${title} ${text}`.trim();
  if (body === '') throw formatError(where, `document "${id}" has no text`);
  return { id: String(id), text: body, ...(title || Object.keys(metadata).length ? { metadata: { ...metadata, ...(title ? { title } : {}) } } : {}) };
}

function fromJsonl(text: string, name: string, o: CorpusOptions): CollectionDoc[] {
  const docs: CollectionDoc[] = [];
  let fields: ReturnType<typeof pickFields> | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `${name}:${i + 1}`;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new CrossrankError('ERR_CORPUS_FORMAT', `${where}: not valid JSON (${(e as Error).message})`, { cause: e });
    }
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw formatError(where, 'each line must be a JSON object');
    fields ??= pickFields(o, where, Object.keys(r));
    docs.push(toDoc(r as Record<string, unknown>, fields, where));
  }
  return docs;
}

function fromDelimited(text: string, name: string, o: CorpusOptions, delimiter: ',' | '\t'): CollectionDoc[] {
  let rows: Record<string, string>[];
  try {
    // TSV files carry no quoting (a quote is text); CSV follows RFC 4180.
    rows = parseCsv(text, { columns: true, delimiter, skip_empty_lines: true, bom: true, ...(delimiter === '\t' ? { quote: false } : {}) }) as Record<string, string>[];
  } catch (e) {
    throw new CrossrankError('ERR_CORPUS_FORMAT', `${name}: ${(e as Error).message}`, { cause: e });
  }
  if (rows.length === 0) return [];
  const fields = pickFields(o, `${name} header`, Object.keys(rows[0]!));
  return rows.map((r, i) => toDoc(r, fields, `${name}: row ${i + 1}`));
}

/** Every .txt/.md file under `dir` (sorted), its path relative to `dir` as the id. */
function fromFolder(dir: string): { docs: CollectionDoc[]; skipped: string[] } {
  const docs: CollectionDoc[] = [];
  const skipped: string[] = [];
  const entries = (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).sort();
  for (const rel of entries) {
    const path = join(dir, rel);
    if (!statSync(path).isFile()) continue;
    if (!TEXT_FILES.has(extname(rel).toLowerCase())) {
      skipped.push(rel);
      continue;
    }
    const text = readText(path).trim();
    if (text === '') {
      skipped.push(rel);
      continue;
    }
    docs.push({ id: relative(dir, path), text, metadata: { path: relative(dir, path) } });
  }
  return { docs, skipped };
}

function formatOf(name: string): CorpusFormat | null {
  const base = name.toLowerCase().replace(/\.gz$/, '');
  if (base.endsWith('.jsonl') || base.endsWith('.ndjson') || base.endsWith('.json')) return 'jsonl';
  if (base.endsWith('.csv')) return 'csv';
  if (base.endsWith('.tsv') || base.endsWith('.tab')) return 'tsv';
  if (TEXT_FILES.has(extname(base))) return 'text';
  return null;
}

/** Guess the format of piped input from its first line. */
function sniff(text: string): CorpusFormat | null {
  const first = text.trimStart().split('\n', 1)[0] ?? '';
  if (first.startsWith('{')) return 'jsonl';
  if (first.includes('\t')) return 'tsv';
  if (first.includes(',')) return 'csv';
  return null;
}

function parseAs(format: CorpusFormat, text: string, name: string, o: CorpusOptions): CollectionDoc[] {
  switch (format) {
    case 'jsonl':
      return fromJsonl(text, name, o);
    case 'csv':
      return fromDelimited(text, name, o, ',');
    case 'tsv':
      return fromDelimited(text, name, o, '\t');
    case 'text':
      return text.trim() ? [{ id: name, text: text.trim() }] : [];
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CrossrankError('ERR_CORPUS_STDIN', 'the corpus "-" is stdin, but stdin is a terminal: pipe a corpus in (crossrank index - <collection-dir> < corpus.jsonl)');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  return (buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf).toString('utf8');
}

/** Read the documents of `source` (a path, or `-` for stdin). */
export async function readCorpus(source: string, o: CorpusOptions = {}): Promise<Corpus> {
  let docs: CollectionDoc[];
  let what: string;
  let skipped: string[] = [];
  if (source === '-') {
    const text = await readStdin();
    const format = o.format ?? sniff(text);
    if (!format) throw new CrossrankError('ERR_CORPUS_FORMAT', 'stdin: cannot tell the format from the first line; say it with --format jsonl|csv|tsv|text');
    docs = parseAs(format, text, 'stdin', o);
    what = `stdin (${format})`;
  } else if (!existsSync(source)) {
    throw new CrossrankError('ERR_CORPUS_NOT_FOUND', `${source}: no such file or directory (a corpus is a .jsonl[.gz], .csv or .tsv file, a folder of .txt/.md files, a BEIR folder, or - for stdin)`);
  } else if (statSync(source).isDirectory()) {
    const beir = ['corpus.jsonl.gz', 'corpus.jsonl'].map((f) => join(source, f)).find((p) => existsSync(p));
    if (beir && !o.format) {
      docs = fromJsonl(readText(beir), beir, o);
      what = `${beir} (BEIR)`;
    } else {
      ({ docs, skipped } = fromFolder(source));
      what = `${docs.length} text files in ${source}`;
    }
  } else {
    const format = o.format ?? formatOf(source);
    if (!format) throw new CrossrankError('ERR_CORPUS_FORMAT', `${source}: unknown kind of file; name it .jsonl, .jsonl.gz, .csv, .tsv, .txt or .md, or say --format jsonl|csv|tsv|text`);
    docs = parseAs(format, readText(source), source, o);
    what = `${source} (${format})`;
  }
  if (docs.length === 0) throw new CrossrankError('ERR_CORPUS_EMPTY', `${source === '-' ? 'stdin' : source}: no documents found${skipped.length ? ` (${skipped.length} files skipped: not .txt/.md, or empty)` : ''}`);
  const seen = new Set<string>();
  for (const d of docs) {
    if (seen.has(d.id)) throw new CrossrankError('ERR_CORPUS_FORMAT', `${what}: the id "${d.id}" appears twice`);
    seen.add(d.id);
  }
  return { docs, source: what, skipped };
}
