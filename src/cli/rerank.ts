/** `crossrank rerank <model> <query> [documents]`: score documents against a query, best first. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { CrossrankError } from '../errors.js';
import { clip, int, loadReranker, printJson, table, TEXT_LINES, textWidth, UsageError } from './common.js';

interface RerankFlags {
  topK?: number;
  textField: string;
  json?: boolean;
}

type Doc = { text: string; id?: string };

async function readInput(source: string): Promise<{ text: string; name: string }> {
  if (source === '-') {
    if (process.stdin.isTTY) throw new CrossrankError('ERR_CORPUS_STDIN', 'no documents: give a file, or pipe them in (one per line, or JSONL with a "text" field)');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8'), name: 'stdin' };
  }
  try {
    return { text: readFileSync(source, 'utf8'), name: source };
  } catch (e) {
    throw new CrossrankError('ERR_CORPUS_NOT_FOUND', `[documents]: cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** One document per line, or JSON lines: strings, or objects with a text field (and maybe an id). */
export function parseDocuments(text: string, name: string, textField: string): Doc[] {
  const lines = text.split('\n').map((l) => l.trim());
  const json = lines.find((l) => l !== '')?.match(/^[{"]/);
  const docs: Doc[] = [];
  lines.forEach((line, i) => {
    if (line === '') return;
    if (!json) return void docs.push({ text: line });
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new CrossrankError('ERR_CORPUS_FORMAT', `${name}:${i + 1}: not valid JSON (${(e as Error).message}); give one document per line, or JSON on every line`, { cause: e });
    }
    if (typeof v === 'string') return void docs.push({ text: v });
    const r = v as Record<string, unknown>;
    if (!r || typeof r !== 'object' || typeof r[textField] !== 'string') throw new CrossrankError('ERR_CORPUS_FORMAT', `${name}:${i + 1}: expected a string or an object with a string "${textField}" field (--text-field)`);
    const id = r.id ?? r._id;
    docs.push({ text: r[textField] as string, ...(id !== undefined ? { id: String(id) } : {}) });
  });
  return docs;
}

export function register(program: Command): void {
  program
    .command('rerank')
    .description('rerank documents for a query with a cross-encoder: documents from a file or stdin, one per line or JSONL ({"text": …, "id": …})')
    .argument('<model>', 'cross-encoder: a model directory or a Hugging Face id')
    .argument('<query>', 'the query (quote it)')
    .argument('[documents]', 'file of documents, or - for stdin', '-')
    .option('--top-k <n>', 'print only the best n', int('--top-k'))
    .option('--text-field <name>', 'JSONL field holding the text', 'text')
    .option('--json', 'print the ranking as JSON')
    .action(async (model: string, query: string, source: string, o: RerankFlags) => {
      if (query.trim() === '') throw new UsageError('ERR_EMPTY_INPUT', '<query> is empty: give the query to rank the documents for');
      const input = await readInput(source);
      const docs = parseDocuments(input.text, input.name, o.textField);
      if (docs.length === 0) throw new CrossrankError('ERR_CORPUS_EMPTY', `${input.name}: no documents to rerank`);
      const ce = (await loadReranker(model, '<model>'))!;
      try {
        const ranked = await ce.rerank(query, docs, { ...(o.topK ? { topK: o.topK } : {}) });
        const kind = ce.activation === 'none' ? 'raw logit' : ce.activation;
        const rows = ranked.map((r, i) => ({ rank: i + 1, index: r.index, ...(docs[r.index]!.id !== undefined ? { id: docs[r.index]!.id } : {}), score: r.score, text: docs[r.index]!.text }));
        if (o.json) return printJson({ query, model, scoreKind: kind, documents: docs.length, results: rows });
        console.log(`query: ${query}`);
        const width = textWidth(40);
        const t = table(['#', `score (${kind})`, docs.some((d) => d.id !== undefined) ? 'id' : 'line', 'text'], ['right', 'right', 'right', 'left'], width);
        for (const r of rows) t.push([r.rank, r.score.toFixed(4), r.id ?? r.index + 1, clip(r.text, width * TEXT_LINES - 8)]);
        console.log(t.toString());
        console.log(`${rows.length} of ${docs.length} documents`);
      } finally {
        ce.dispose();
      }
    });
}
