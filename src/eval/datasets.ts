import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { CrossrankError } from '../errors.js';

/** A retrieval test collection: documents, queries and graded relevance judgments. */
export interface IrCollection {
  docs: { id: string; title: string; text: string }[];
  queries: { id: string; text: string }[];
  /** qrels.get(queryId).get(docId) = grade (higher is more relevant). */
  qrels: Map<string, Map<string, number>>;
}

function readMaybeGz(path: string): string {
  const buf = readFileSync(path);
  return (path.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8');
}

function jsonl(path: string): Record<string, unknown>[] {
  return readMaybeGz(path)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new CrossrankError('ERR_DATASET_FORMAT', `${path}:${i + 1}: not valid JSON`);
      }
    });
}

/** Load a BEIR-format collection (corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv). */
export function loadBeir(dir: string, split = 'test'): IrCollection {
  const pick = (base: string) => {
    for (const p of [join(dir, base + '.gz'), join(dir, base)]) if (existsSync(p)) return p;
    throw new CrossrankError('ERR_FILE_NOT_FOUND', `no ${base}(.gz) in ${dir}`);
  };
  const docs = jsonl(pick('corpus.jsonl')).map((d) => ({
    id: String(d._id),
    title: String(d.title ?? ''),
    text: String(d.text ?? ''),
  }));
  const queries = jsonl(pick('queries.jsonl')).map((q) => ({ id: String(q._id), text: String(q.text ?? '') }));
  const qrels = new Map<string, Map<string, number>>();
  const lines = readMaybeGz(pick(join('qrels', `${split}.tsv`))).split('\n');
  for (const line of lines.slice(1)) {
    const [q, d, s] = line.split('\t');
    if (!q || !d) continue;
    if (!qrels.has(q)) qrels.set(q, new Map());
    qrels.get(q)!.set(d, Number(s));
  }
  const judged = new Set(qrels.keys());
  return { docs, queries: queries.filter((q) => judged.has(q.id)), qrels };
}

/**
 * Load the Cranfield 1400 collection. Relevance codes 1-4 (1 most relevant) become grades 4-1;
 * -1 (not relevant) is dropped. Queries are numbered by position, as cranqrel expects.
 */
export function loadCranfield(dir: string): IrCollection {
  const parse = (text: string) => {
    const recs: Record<string, string>[] = [];
    let cur: Record<string, string> | null = null;
    let field = '';
    for (const line of text.split(/\r?\n/)) {  // cran.qry has CRLF line ends
      const m = /^\.([ITABW])\s*(.*)$/.exec(line);
      if (m) {
        if (m[1] === 'I') {
          cur = { I: m[2]!.trim() };
          recs.push(cur);
          field = '';
        } else {
          field = m[1]!;
          if (cur) cur[field] = '';
        }
      } else if (cur && field) {
        cur[field] += (cur[field] ? '\n' : '') + line;
      }
    }
    return recs;
  };
  const docs = parse(readFileSync(join(dir, 'cran.all.1400'), 'utf8')).map((r) => ({
    id: r.I!,
    title: (r.T ?? '').trim(),
    text: (r.W ?? '').trim(),
  }));
  const queries = parse(readFileSync(join(dir, 'cran.qry'), 'utf8')).map((r, i) => ({ id: String(i + 1), text: (r.W ?? '').trim() }));
  const qrels = new Map<string, Map<string, number>>();
  for (const line of readFileSync(join(dir, 'cranqrel'), 'utf8').split('\n')) {
    const [q, d, r] = line.trim().split(/\s+/);
    if (!q || !d || r === undefined) continue;
    const code = Number(r);
    if (code < 1) continue;
    if (!qrels.has(q)) qrels.set(q, new Map());
    qrels.get(q)!.set(d, 5 - code);
  }
  return { docs, queries, qrels };
}
