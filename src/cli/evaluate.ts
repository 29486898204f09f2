/** `crossrank evaluate <beir-dir> <collection-dir>`: nDCG@10, MRR@10 and recall on judged queries. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ReportCollector } from './report.js';
import type { Scores } from '../eval/evaluate.js';
import { int, loadReranker, printJson, progress, table } from './common.js';

interface EvaluateFlags {
  first: 'bm25' | 'dense' | 'hybrid';
  queries?: number;
  rerank?: string;
  candidates: number;
  json?: boolean;
  report?: string;
}

export function register(program: Command): void {
  program
    .command('evaluate')
    .description("nDCG@10, MRR@10 and recall of a collection on a BEIR dataset's judged queries, first stage and reranked (drops the query's own id, as BEIR does)")
    .argument('<beir-dir>', 'BEIR folder: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/test.tsv')
    .argument('<collection-dir>')
    .addOption(new Option('--first <stage>', 'first stage').choices(['bm25', 'dense', 'hybrid']).default('bm25'))
    .option('--queries <n>', 'evaluate the first n judged queries (default: all)', int('--queries'))
    .option('--rerank <model>', 'cross-encoder: a model directory or a Hugging Face id')
    .option('--candidates <n>', 'first-stage candidates to rerank', int('--candidates', 1, 100_000), 100)
    .option('--json', 'print the whole report (with per-query scores) as JSON')
    .option('--report <file>', 'also write charts: an .html page (figures, charts, data) or an .svg (the charts)', (v: string) => {
      if (!/\.(html?|svg)$/i.test(v)) throw new InvalidArgumentError(`--report takes a file named .html or .svg, got ${JSON.stringify(v)}`);
      return v;
    })
    .action(async (beirDir: string, dir: string, o: EvaluateFlags) => {
      const [{ Collection }, { loadBeir }, { evaluate }] = await Promise.all([import('../collection/collection.js'), import('../eval/datasets.js'), import('../eval/evaluate.js')]);
      const data = loadBeir(beirDir);
      const col = await Collection.open(dir, { readOnly: true, refreshIntervalMs: 0 });
      let report;
      let collector: ReportCollector | undefined;
      try {
        const ce = await loadReranker(o.rerank);
        const bar = progress('evaluating');
        collector = o.report ? new ReportCollector(data, o.candidates) : undefined;
        report = await evaluate(col, data, {
          first: o.first,
          candidates: o.candidates,
          ...(o.queries ? { queries: o.queries } : {}),
          ...(ce ? { rerank: ce } : {}),
          onProgress: (done, total) => bar.update(done, total),
          ...(collector ? { onQuery: collector.onQuery } : {}),
        });
        bar.stop();
      } finally {
        await col.close();
      }
      if (o.report && collector) {
        const { writeReport } = await import('./report.js');
        await writeReport(o.report, collector.data(report), `crossrank evaluate: ${beirDir}`);
        if (!o.json) console.error(`report written to ${o.report}`);
      }
      if (o.json) return printJson(report);
      // Recall at the candidate depth is a column of its own only when that depth is not 10.
      const deep = report.candidates !== 10;
      const head = ['stage', 'nDCG@10', 'MRR@10', 'R@10', ...(deep ? [`R@${report.candidates}`] : [])];
      const nums = (s: Scores) => [s.ndcg10, s.mrr10, s.recall10, ...(deep ? [s.recallAtCandidates] : [])].map((x) => x.toFixed(4));
      console.log(`${beirDir}: ${report.queries} of ${data.queries.length} judged queries, first stage ${report.first}, ${report.candidates} candidates per query`);
      const t = table(head, ['left', 'right', 'right', 'right', 'right']);
      t.push([report.first, ...nums(report.firstStage)]);
      if (report.reranked) t.push([`${report.first} + rerank`, ...nums(report.reranked)]);
      console.log(t.toString());
    });
}
