/** `crossrank search <collection-dir> <query…>`: first stage, then (with --rerank) a cross-encoder. */
import { Command, Option } from 'commander';
import type { SearchResult } from '../collection/collection.js';
import type { CrossEncoder } from '../inference/cross-encoder.js';
import { clip, colour, flagged, int, loadReranker, positive, printJson, table, TEXT_LINES, textWidth, UsageError } from './common.js';

interface SearchFlags {
  first?: 'bm25' | 'dense' | 'hybrid';
  candidates: number;
  topK: number;
  rerank?: string;
  budget?: number;
  json?: boolean;
}

const FIRST_STAGE_SCORE = { bm25: 'BM25 score', dense: 'dense similarity', hybrid: 'RRF score (fused ranks)' } as const;

/** What the score column holds, in words. */
export function scoreKind(res: SearchResult, ce: CrossEncoder | undefined): string {
  if (!ce) return FIRST_STAGE_SCORE[res.first];
  return ce.activation === 'none' ? 'rerank score (raw logit)' : `rerank score (${ce.activation})`;
}

/** "↑3" / "↓2" / "=" for a reranked hit, "" otherwise. */
export function movement(firstStageRank: number, rank: number): string {
  const moved = firstStageRank - rank;
  return moved > 0 ? colour.green(`↑${moved}`) : moved < 0 ? colour.red(`↓${-moved}`) : '=';
}

function printHits(query: string, res: SearchResult, ce: CrossEncoder | undefined): void {
  console.log(`${colour.bold('query:')} ${query}`);
  if (res.hits.length === 0) {
    console.log(`no documents matched (first stage ${res.first}${res.first === 'bm25' ? ': no query term is in the index' : ''})`);
  } else {
    const reranked = Boolean(ce);
    const kind = scoreKind(res, ce);
    const head = reranked ? ['#', kind, 'moved', 'was', 'id', 'text'] : ['#', kind, 'id', 'text'];
    const idWidth = Math.min(48, Math.max(2, ...res.hits.map((h) => h.id.length)));
    const width = textWidth((reranked ? 44 : 28) + kind.length + idWidth);
    const t = table(head, reranked ? ['right', 'right', 'left', 'right', 'left', 'left'] : ['right', 'right', 'left', 'left'], width);
    for (const h of res.hits) {
      const text = clip(h.text, width * TEXT_LINES - 8); // room for the words wrapping leaves at line ends
      const id = clip(h.id, idWidth);
      const score = h.score.toFixed(4);
      if (!reranked) t.push([h.rank, score, id, text]);
      else t.push([h.rank, score, h.reranked ? movement(h.firstStageRank, h.rank) : 'not reranked', h.firstStageRank, id, text]);
    }
    console.log(t.toString());
  }
  const tm = res.timings;
  const parts = [`first stage ${res.first}: ${res.candidates} candidates in ${tm.firstStageMs.toFixed(1)} ms`];
  if (ce) parts.push(`rerank: ${tm.rerankMs.toFixed(1)} ms`);
  parts.push(`total ${tm.totalMs.toFixed(1)} ms`);
  console.log(colour.dim(parts.join('; ')));
  if (res.plan) console.log(colour.dim(`latency plan: reranked ${res.plan.rerank} of ${res.plan.candidates} (predicted ${res.plan.predictedMs.toFixed(1)} ms)`));
}

export function register(program: Command): void {
  program
    .command('search')
    .description('two-stage search: first stage, then (with --rerank) a cross-encoder')
    .argument('<collection-dir>')
    .argument('<query...>')
    .addOption(new Option('--first <stage>', 'first stage (default: hybrid when the collection has both indexes)').choices(['bm25', 'dense', 'hybrid']))
    .option('--candidates <n>', 'first-stage candidates', int('--candidates', 1, 100_000), 100)
    .option('--top-k <n>', 'results to print', int('--top-k', 1, 100_000), 10)
    .option('--rerank <model>', 'cross-encoder: a model directory or a Hugging Face id')
    .option('--budget <ms>', 'latency budget in ms: rerank only what fits (needs --rerank)', positive('--budget'))
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, words: string[], o: SearchFlags) => {
      const query = words.join(' ');
      if (query.trim() === '') throw new UsageError('ERR_EMPTY_INPUT', '<query> is empty: give the words to search for');
      if (o.budget !== undefined && !o.rerank) throw new UsageError('ERR_CLI_INVALID_OPTION', '--budget limits reranking: give --rerank too');
      const { Collection } = await import('../collection/collection.js');
      const col = await Collection.open(dir, { readOnly: true, refreshIntervalMs: 0 });
      try {
        const ce = await loadReranker(o.rerank);
        const res = await col.search(query, {
          candidates: o.candidates,
          topK: o.topK,
          ...(o.first ? { first: o.first } : {}),
          ...(ce ? { rerank: ce } : {}),
          ...(o.budget ? { latencyBudgetMs: o.budget } : {}),
        }).catch((e: unknown) => {
          const code = (e as { code?: string }).code;
          if (code === 'ERR_NO_DENSE_INDEX' || code === 'ERR_NO_BM25_INDEX') throw flagged(`--first ${o.first ?? ''}`.trim(), e);
          throw e;
        });
        if (o.json) printJson({ query, first: res.first, reranked: Boolean(ce), scoreKind: scoreKind(res, ce), candidates: res.candidates, hits: res.hits, timings: res.timings, ...(res.plan ? { plan: res.plan } : {}) });
        else printHits(query, res, ce);
      } finally {
        await col.close();
      }
    });
}
