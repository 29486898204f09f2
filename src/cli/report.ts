/**
 * `crossrank evaluate --report file.html|file.svg`: the evaluation as charts (Vega-Lite specs
 * rendered to SVG in Node, no browser): per-query nDCG@10 first stage vs reranked, how far the
 * reranker moved the relevant documents, and the first stage's recall at each candidate depth.
 */
import { writeFileSync } from 'node:fs';
import { CrossrankError } from '../errors.js';
import type { IrCollection } from '../eval/datasets.js';
import type { EvaluationReport } from '../eval/evaluate.js';
import { recallAt } from '../eval/metrics.js';
import type { PipelineHit } from '../pipeline/pipeline.js';

export interface ReportData {
  report: EvaluationReport;
  /** firstStageRank − rank of every judged-relevant candidate the reranker read (positive: moved up). */
  movements: number[];
  /** Mean first-stage recall at each depth up to the candidate depth. */
  recall: { depth: number; recall: number }[];
}

/** Collects what the charts need from evaluate()'s onQuery hook. */
export class ReportCollector {
  readonly #data: IrCollection;
  readonly #candidates: number;
  readonly #ignoreIdentical: boolean;
  readonly #movements: number[] = [];
  readonly #rankings: { ranking: string[]; qrels: ReadonlyMap<string, number> }[] = [];

  constructor(data: IrCollection, candidates: number, ignoreIdentical = true) {
    this.#data = data;
    this.#candidates = candidates;
    this.#ignoreIdentical = ignoreIdentical;
  }

  /** evaluate()'s onQuery: the same ranking evaluate() scores (the query's own id dropped). */
  readonly onQuery = (q: { id: string; firstStage: readonly string[]; hits: readonly PipelineHit[] }): void => {
    const qrels = this.#data.qrels.get(q.id)!;
    const keep = (id: string) => !this.#ignoreIdentical || id !== q.id;
    this.#rankings.push({ ranking: q.firstStage.filter(keep).slice(0, this.#candidates), qrels });
    for (const h of q.hits) if (h.reranked && keep(h.id) && (qrels.get(h.id) ?? 0) > 0) this.#movements.push(h.firstStageRank - h.rank);
  };

  data(report: EvaluationReport): ReportData {
    const depths = [...new Set([1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000].filter((d) => d < this.#candidates).concat(this.#candidates))];
    const n = this.#rankings.length;
    const recall = depths.map((depth) => ({ depth, recall: this.#rankings.reduce((s, r) => s + recallAt(r.ranking, r.qrels, depth), 0) / Math.max(1, n) }));
    return { report, movements: this.#movements, recall };
  }
}

type Spec = Record<string, unknown>;

function charts(d: ReportData): { title: string; spec: Spec }[] {
  const r = d.report;
  const out: { title: string; spec: Spec }[] = [];
  const perQuery = r.perQuery.map((q) => ({ query: q.id, first: q.first.ndcg10, reranked: q.reranked?.ndcg10 ?? null }));
  if (r.reranked) {
    out.push({
      title: `Per-query nDCG@10: ${r.first} vs ${r.first} + rerank (${r.queries} queries; above the diagonal, the reranker helped)`,
      spec: {
        data: { values: perQuery },
        layer: [
          { data: { values: [{ v: 0 }, { v: 1 }] }, mark: { type: 'line', color: '#bbb' }, encoding: { x: { field: 'v', type: 'quantitative' }, y: { field: 'v', type: 'quantitative' } } },
          {
            mark: { type: 'point', filled: true, opacity: 0.6 },
            encoding: {
              x: { field: 'first', type: 'quantitative', title: `nDCG@10, ${r.first}`, scale: { domain: [0, 1] } },
              y: { field: 'reranked', type: 'quantitative', title: 'nDCG@10, reranked', scale: { domain: [0, 1] } },
              tooltip: [{ field: 'query' }, { field: 'first' }, { field: 'reranked' }],
            },
          },
        ],
      },
    });
    out.push({
      title: `Rank movement of the ${d.movements.length} relevant candidates the reranker read (first-stage rank − reranked rank; positive: moved up)`,
      spec: {
        data: { values: d.movements.map((m) => ({ moved: m })) },
        mark: 'bar',
        encoding: {
          x: { field: 'moved', type: 'quantitative', bin: { maxbins: 40 }, title: 'places moved' },
          y: { aggregate: 'count', type: 'quantitative', title: 'relevant documents' },
        },
      },
    });
  } else {
    out.push({
      title: `Per-query nDCG@10, ${r.first} (${r.queries} queries)`,
      spec: {
        data: { values: perQuery },
        mark: 'bar',
        encoding: {
          x: { field: 'first', type: 'quantitative', bin: { maxbins: 20 }, title: `nDCG@10, ${r.first}` },
          y: { aggregate: 'count', type: 'quantitative', title: 'queries' },
        },
      },
    });
  }
  out.push({
    title: `Recall of the ${r.first} first stage at each candidate depth (what a reranker can reach at best)`,
    spec: {
      data: { values: d.recall },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'depth', type: 'quantitative', scale: { type: 'log' }, title: 'candidates (log scale)' },
        y: { field: 'recall', type: 'quantitative', scale: { domain: [0, 1] }, title: 'mean recall' },
      },
    },
  });
  return out;
}

async function toSvg(spec: Spec): Promise<string> {
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 560, height: 320, ...spec };
  const view = new vega.View(vega.parse(compile(full as never).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Write the report: one HTML page (figures, charts, the data as JSON), or with .svg the charts alone. */
export async function writeReport(path: string, d: ReportData, title: string): Promise<void> {
  const kind = path.toLowerCase().endsWith('.svg') ? 'svg' : path.toLowerCase().match(/\.html?$/) ? 'html' : null;
  if (!kind) throw new CrossrankError('ERR_CLI_INVALID_OPTION', `--report: ${path}: name the file .html or .svg`);
  const list = charts(d);
  if (kind === 'svg') {
    const svg = await toSvg({ vconcat: list.map((c) => ({ title: c.title, ...c.spec, width: 560, height: 260 })) } as Spec);
    writeFileSync(path, svg);
    return;
  }
  const r = d.report;
  const row = (name: string, s: { ndcg10: number; mrr10: number; recall10: number; recallAtCandidates: number }) =>
    `<tr><td>${escape(name)}</td>${[s.ndcg10, s.mrr10, s.recall10, s.recallAtCandidates].map((x) => `<td>${x.toFixed(4)}</td>`).join('')}</tr>`;
  const svgs = await Promise.all(list.map(async (c) => `<figure><figcaption>${escape(c.title)}</figcaption>${await toSvg(c.spec)}</figure>`));
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}figure{margin:2em 0}figcaption{font-weight:600;margin-bottom:.5em}</style>
</head><body>
<h1>${escape(title)}</h1>
<p>${r.queries} judged queries, first stage ${escape(r.first)}, ${r.candidates} candidates per query${r.reranked ? ', the same candidates reranked' : ''}.</p>
<table><thead><tr><th>stage</th><th>nDCG@10</th><th>MRR@10</th><th>R@10</th><th>R@${r.candidates}</th></tr></thead><tbody>
${row(r.first, r.firstStage)}${r.reranked ? row(`${r.first} + rerank`, r.reranked) : ''}
</tbody></table>
${svgs.join('\n')}
<script type="application/json" id="crossrank-report">${JSON.stringify({ report: r, movements: d.movements, recall: d.recall }).replace(/</g, '\\u003c')}</script>
</body></html>
`;
  writeFileSync(path, html);
}
