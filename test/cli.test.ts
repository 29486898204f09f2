// The command line in child processes: one's own corpus in every form `index` takes, structure
// flags on an existing collection, readable output, --json, and every wrong command line coded
// (exit 2, naming the flag) apart from failures (exit 1).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { CrossEncoder } from '../src/inference/cross-encoder.js';
import { requireShared } from './shared.js';

const CLI = join(import.meta.dirname, '../dist/cli.js');
const BI = () => requireShared('models/bert-tiny-bi');
const CE = () => requireShared('models/bert-tiny-cross');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run `crossrank …` with `input` on stdin (stdin is a pipe, never a terminal, even without input). */
function cli(args: string[], input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

const DOCS = [
  { id: 'cats', text: 'Cats purr and sleep most of the day.' },
  { id: 'dogs', text: 'Dogs bark at the mailman every morning.' },
  { id: 'tea', text: 'Green tea is brewed below boiling point.' },
];

interface SearchJson {
  query: string;
  reranked: boolean;
  scoreKind: string;
  hits: { id: string; rank: number; score: number; firstStageRank: number }[];
}

async function topId(col: string, query: string): Promise<string> {
  const r = await cli(['search', col, query, '--json']);
  expect(r.stderr).toBe('');
  return (JSON.parse(r.stdout) as SearchJson).hits[0]!.id;
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'crossrank-cli-'));
});

describe('crossrank index: any corpus, documents only', () => {
  it('a JSONL file with its own field names', async () => {
    const file = join(tmp, 'mine.jsonl');
    writeFileSync(file, DOCS.map((d) => JSON.stringify({ key: d.id, body: d.text, extra: 1 })).join('\n') + '\n');
    const col = join(tmp, 'jsonl-col');
    const r = await cli(['index', file, col, '--id-field', 'key', '--text-field', 'body', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ created: true, documents: 3, added: 3, replaced: 0, skipped: 0 });
    expect(await topId(col, 'mailman')).toBe('dogs');
    // Without the field names it says which flag names them.
    const bad = await cli(['index', file, join(tmp, 'jsonl-bad')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('ERR_CORPUS_FORMAT');
    expect(bad.stderr).toContain('--id-field');
  });

  it('a gzipped BEIR corpus file (_id/title/text), a TSV file, a CSV file with quoted commas', async () => {
    const gz = join(tmp, 'corpus.jsonl.gz');
    writeFileSync(gz, gzipSync(DOCS.map((d) => JSON.stringify({ _id: d.id, title: 'T', text: d.text })).join('\n')));
    const col1 = join(tmp, 'gz-col');
    expect((await cli(['index', gz, col1])).status).toBe(0);
    expect(await topId(col1, 'brewed')).toBe('tea');

    const tsv = join(tmp, 'docs.tsv');
    writeFileSync(tsv, 'id\ttext\n' + DOCS.map((d) => `${d.id}\t${d.text} "quoted"`).join('\n') + '\n');
    const col2 = join(tmp, 'tsv-col');
    const r = await cli(['index', tsv, col2]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^created .*tsv-col from .*docs\.tsv \(tsv\): 3 documents \(added 3, replaced 0, unchanged 0\)/);
    expect(await topId(col2, 'purr')).toBe('cats');

    const csv = join(tmp, 'docs.csv');
    writeFileSync(csv, 'id,text\n' + DOCS.map((d) => `${d.id},"${d.text}, with a comma"`).join('\n') + '\n');
    const col3 = join(tmp, 'csv-col');
    expect((await cli(['index', csv, col3])).status).toBe(0);
    const hits = JSON.parse((await cli(['search', col3, 'comma', '--json'])).stdout) as SearchJson;
    expect(hits.hits.map((h) => h.id).sort()).toEqual(['cats', 'dogs', 'tea']);
  });

  it('a folder of .txt/.md files (ids are their paths; other files are named as skipped)', async () => {
    const dir = join(tmp, 'notes');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'cats.md'), '# Cats\n\nCats purr.');
    writeFileSync(join(dir, 'sub', 'dogs.txt'), 'Dogs bark.');
    writeFileSync(join(dir, 'photo.png'), 'not text');
    const col = join(tmp, 'folder-col');
    const r = await cli(['index', dir, col]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('skipped 1 file(s) that are not .txt/.md or are empty: photo.png');
    expect(r.stdout).toContain('2 documents (added 2');
    expect(await topId(col, 'bark')).toBe(join('sub', 'dogs.txt'));
  });

  it('stdin (-), the format read from the first line or given with --format', async () => {
    const col = join(tmp, 'stdin-col');
    const r = await cli(['index', '-', col], DOCS.map((d) => JSON.stringify(d)).join('\n'));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('from stdin (jsonl): 3 documents');
    const plain = await cli(['index', '-', join(tmp, 'stdin-plain')], 'just some words');
    expect(plain.status).toBe(1);
    expect(plain.stderr).toContain('ERR_CORPUS_FORMAT: stdin: cannot tell the format from the first line; say it with --format');
    // Re-indexing the same documents changes nothing, and says so.
    const again = await cli(['index', '-', col, '--json'], DOCS.map((d) => JSON.stringify(d)).join('\n'));
    expect(JSON.parse(again.stdout)).toMatchObject({ created: false, documents: 3, added: 0, skipped: 3 });
  });

  it('a missing corpus is one coded line (no raw, doubled ENOENT); an empty one is refused', async () => {
    const r = await cli(['index', join(tmp, 'nowhere.jsonl'), join(tmp, 'never')]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^crossrank: ERR_CORPUS_NOT_FOUND: .*nowhere\.jsonl: no such file or directory/);
    expect(r.stderr).not.toContain('ENOENT');
    const empty = join(tmp, 'empty.jsonl');
    writeFileSync(empty, '\n');
    expect((await cli(['index', empty, join(tmp, 'never')])).stderr).toContain('ERR_CORPUS_EMPTY');
    const dup = join(tmp, 'dup.jsonl');
    writeFileSync(dup, '{"id":"a","text":"x"}\n{"id":"a","text":"y"}\n');
    expect((await cli(['index', dup, join(tmp, 'never')])).stderr).toContain('the id "a" appears twice');
  });
});

describe('crossrank index on an existing collection: structure flags are applied only when they match, never ignored', () => {
  it('--embedder on a BM25-only collection is refused, saying how; the collection is unchanged', async () => {
    const file = join(tmp, 'plain.jsonl');
    writeFileSync(file, DOCS.map((d) => JSON.stringify(d)).join('\n'));
    const col = join(tmp, 'bm25-only');
    expect((await cli(['index', file, col])).status).toBe(0);
    const before = readFileSync(join(col, 'collection.json'), 'utf8');
    for (const bogus of [BI(), join(tmp, 'no-such-model')]) {
      const r = await cli(['index', file, col, '--embedder', bogus]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('ERR_COLLECTION_STRUCTURE: --embedder: ');
      expect(r.stderr).toContain('has no dense index (it was created with BM25 only)');
      expect(r.stderr).toContain('index into a new directory');
    }
    expect(readFileSync(join(col, 'collection.json'), 'utf8')).toBe(before);
    const k1 = await cli(['index', file, col, '--k1', '1.2']);
    expect(k1.stderr).toContain('ERR_COLLECTION_STRUCTURE: --k1: ');
  });

  it('the embedder it was made with is accepted; another factory is refused; --first dense on BM25-only names the flag', async () => {
    const file = join(tmp, 'plain.jsonl');
    const col = join(tmp, 'dense-col');
    expect((await cli(['index', file, col, '--embedder', BI()])).status).toBe(0);
    const same = await cli(['index', file, col, '--embedder', BI(), '--json']);
    expect(same.status).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ created: false, skipped: 3 });
    const other = await cli(['index', file, col, '--embedder', BI(), '--factory', 'HNSW32']);
    expect(other.stderr).toContain('ERR_COLLECTION_STRUCTURE: --factory: ');
    expect(other.stderr).toContain('has a Flat dense index, not HNSW32');
    const dense = await cli(['search', join(tmp, 'bm25-only'), 'cats', '--first', 'dense']);
    expect(dense.status).toBe(1);
    expect(dense.stderr).toContain('ERR_NO_DENSE_INDEX: --first dense: ');
  });

  it('options that would be ignored on a new collection are usage errors', async () => {
    const file = join(tmp, 'plain.jsonl');
    const r = await cli(['index', file, join(tmp, 'never'), '--factory', 'HNSW32']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('ERR_CLI_INVALID_OPTION: --factory sets the dense index: give --embedder too');
    expect((await cli(['index', file, join(tmp, 'never'), '--no-bm25'])).stderr).toContain('--no-bm25 leaves no index');
  });
});

describe('readable output', () => {
  it('search: the query echoed, headed columns naming the score, no movement without a reranker', async () => {
    const col = join(tmp, 'dense-col');
    const r = await cli(['search', col, 'cats', 'purr', '--first', 'bm25']);
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('query: cats purr');
    expect(r.stdout).toMatch(/│ # │ BM25 score │ id\s+│ text\s+│/);
    expect(r.stdout).not.toContain('moved');
    expect(r.stdout).not.toContain('rerank');
    expect(r.stdout).toContain('Cats purr and sleep most of the day.');
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR and not a terminal
    const none = await cli(['search', col, 'zebra', '--first', 'bm25']);
    expect(none.stdout).toContain('no documents matched');
  });

  it('search --rerank: movement and where each hit was, sigmoid scores equal to the library', async () => {
    const col = join(tmp, 'dense-col');
    const table = await cli(['search', col, 'who barks', '--rerank', CE(), '--first', 'hybrid']);
    expect(table.stdout).toMatch(/│ # │ rerank score \(sigmoid\) │ moved │ was │ id/);
    expect(table.stdout).toMatch(/rerank: [\d.]+ ms/);
    const r = await cli(['search', col, 'who barks', '--rerank', CE(), '--first', 'hybrid', '--json']);
    const res = JSON.parse(r.stdout) as SearchJson;
    expect(res).toMatchObject({ query: 'who barks', reranked: true, scoreKind: 'rerank score (sigmoid)' });
    const ce = await CrossEncoder.load(CE());
    try {
      const scores = await ce.score('who barks', DOCS.map((d) => d.text));
      for (const h of res.hits) expect(h.score).toBeCloseTo(scores[DOCS.findIndex((d) => d.id === h.id)]!, 5);
    } finally {
      ce.dispose();
    }
  });

  it('rerank: documents from stdin, best first, the same as CrossEncoder.rerank', async () => {
    const texts = DOCS.map((d) => d.text);
    const r = await cli(['rerank', CE(), 'which animal purrs?', '-', '--json'], texts.join('\n'));
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { scoreKind: string; documents: number; results: { index: number; score: number; text: string }[] };
    const ce = await CrossEncoder.load(CE());
    try {
      const lib = await ce.rerank('which animal purrs?', texts);
      expect(out.scoreKind).toBe('sigmoid');
      expect(out.documents).toBe(3);
      expect(out.results.map((x) => x.index)).toEqual(lib.map((x) => x.index));
      out.results.forEach((x, i) => expect(x.score).toBeCloseTo(lib[i]!.score, 5));
    } finally {
      ce.dispose();
    }
    const shown = await cli(['rerank', CE(), 'which animal purrs?', '--top-k', '2'], texts.join('\n'));
    expect(shown.stdout).toContain('query: which animal purrs?');
    expect(shown.stdout).toMatch(/│ # │ score \(sigmoid\) │ line │ text/);
    expect(shown.stdout).toContain('2 of 3 documents');
  });

  it('evaluate --candidates 10: one R@10 column; the number of judged queries said', async () => {
    const beir = join(tmp, 'beir');
    mkdirSync(join(beir, 'qrels'), { recursive: true });
    writeFileSync(join(beir, 'corpus.jsonl'), DOCS.map((d) => JSON.stringify({ _id: d.id, title: '', text: d.text })).join('\n'));
    writeFileSync(join(beir, 'queries.jsonl'), [JSON.stringify({ _id: 'q1', text: 'purring cats' }), JSON.stringify({ _id: 'q2', text: 'tea' })].join('\n'));
    writeFileSync(join(beir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\tcats\t1\nq2\ttea\t1\n');
    const col = join(tmp, 'beir-col');
    expect((await cli(['index', beir, col])).status).toBe(0);
    const r = await cli(['evaluate', beir, col, '--candidates', '10']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('2 of 2 judged queries, first stage bm25, 10 candidates per query');
    expect(r.stdout.match(/ R@10 /g)).toHaveLength(1);
    const deep = await cli(['evaluate', beir, col, '--candidates', '20']);
    expect(deep.stdout).toMatch(/│ stage\s+│ nDCG@10 │ MRR@10 │\s+R@10 │\s+R@20 │/);
    const noQrels = await cli(['evaluate', join(tmp, 'notes'), col]);
    expect(noQrels.stderr).toMatch(/^crossrank: ERR_FILE_NOT_FOUND: no corpus\.jsonl\(\.gz\) in /);
  });
});

describe('crossrank evaluate --report: charts people can look at', () => {
  interface Report {
    queries: number;
    candidates: number;
    firstStage: { recall10: number; recallAtCandidates: number };
    perQuery: { id: string; first: { ndcg10: number }; reranked?: { ndcg10: number } }[];
  }
  const labels = (svg: string) => [...svg.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]!);

  it('an HTML page whose charts plot the report\'s own figures: per-query nDCG@10, rank movements, recall by depth', async () => {
    const beir = join(tmp, 'beir'); // written by the evaluate test above
    const col = join(tmp, 'beir-col');
    const file = join(tmp, 'report.html');
    const r = await cli(['evaluate', beir, col, '--rerank', CE(), '--candidates', '3', '--report', file, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    const html = readFileSync(file, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(3);
    const all = labels(html);
    // Scatter: one point per query at (first stage, reranked) nDCG@10.
    for (const q of report.perQuery) {
      expect(all).toContain(`nDCG@10, bm25: ${q.first.ndcg10}; nDCG@10, reranked: ${q.reranked!.ndcg10}; query: ${q.id}; first: ${q.first.ndcg10}; reranked: ${q.reranked!.ndcg10}`);
    }
    // Movements: the bars count every relevant candidate the reranker read, as the embedded data lists them.
    const data = JSON.parse(/<script type="application\/json" id="crossrank-report">(.*)<\/script>/.exec(html)![1]!) as { movements: number[]; recall: { depth: number; recall: number }[] };
    expect(data.movements).toHaveLength(2); // q1 → cats, q2 → tea: both among the 3 candidates
    const bars = all.filter((l) => l.startsWith('places moved: ')).map((l) => Number(/relevant documents: (\d+)$/.exec(l)![1]));
    expect(bars.reduce((a, b) => a + b, 0)).toBe(2);
    // Recall by depth: 1, 2, 3 candidates; at 3 it is the report's recall at the candidate depth.
    expect(data.recall.map((p) => p.depth)).toEqual([1, 2, 3]);
    expect(data.recall.at(-1)!.recall).toBe(report.firstStage.recallAtCandidates);
    for (const p of data.recall) expect(all.some((l) => l.startsWith(`candidates (log scale): ${p.depth}; mean recall: `))).toBe(true);
    expect(html).toContain(`<td>bm25 + rerank</td>`);
  });

  it('an .svg holds the charts alone; another file name is refused before any work', async () => {
    const file = join(tmp, 'report.svg');
    const r = await cli(['evaluate', join(tmp, 'beir'), join(tmp, 'beir-col'), '--report', file]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`report written to ${file}`);
    const svg = readFileSync(file, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(labels(svg).filter((l) => l.startsWith("X-axis titled 'nDCG@10, bm25'"))).toHaveLength(1); // the histogram without a reranker
    const bad = await cli(['evaluate', 'a', 'b', '--report', 'report.pdf']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--report takes a file named .html or .svg, got "report.pdf"');
  });
});

describe('wrong command lines: coded, naming the flag, exit 2; failures exit 1', () => {
  const cases: [string[], string, string][] = [
    [['search', 'c', 'q', '--first', 'sideways'], 'ERR_CLI_INVALID_OPTION', "option '--first <stage>' argument 'sideways' is invalid. Allowed choices are bm25, dense, hybrid."],
    [['search', 'c', 'q', '--top_k', '3'], 'ERR_CLI_UNKNOWN_OPTION', "unknown option '--top_k' (Did you mean --top-k?)"],
    [['search', 'c', 'q', '--budget', 'abc', '--rerank', 'm'], 'ERR_CLI_INVALID_OPTION', '--budget takes a positive number, got "abc"'],
    [['search', 'c', 'q', '--budget', '100'], 'ERR_CLI_INVALID_OPTION', '--budget limits reranking: give --rerank too'],
    [['search', 'c', 'q', '--top-k', '0'], 'ERR_CLI_INVALID_OPTION', '--top-k takes an integer from 1 to 100000, got "0"'],
    [['search', 'c', '  '], 'ERR_EMPTY_INPUT', '<query> is empty'],
    [['search'], 'ERR_CLI_MISSING_ARGUMENT', "missing required argument 'collection-dir'"],
    [['serve'], 'ERR_CLI_MISSING_OPTION', 'serve needs a model or a collection: give --rerank, --rerank-config, --embedder or --collection'],
    [['serve', '--rerank', 'm', '--log-level', 'loud'], 'ERR_CLI_INVALID_OPTION', "option '--log-level <level>' argument 'loud' is invalid. Allowed choices are fatal, error, warn, info, debug, trace, silent."],
    [['serve', '--rerank', 'm', '--port', '70000'], 'ERR_CLI_INVALID_OPTION', '--port takes an integer from 0 to 65535, got "70000"'],
    [['index', 'a', 'b', '--b', '2'], 'ERR_CLI_INVALID_OPTION', '--b takes a number from 0 to 1, got "2"'],
    [['frobnicate'], 'ERR_CLI_UNKNOWN_COMMAND', "unknown command 'frobnicate'"],
    [['rerank', 'm', ''], 'ERR_EMPTY_INPUT', '<query> is empty'],
  ];
  for (const [args, code, message] of cases) {
    it.concurrent(`${args.join(' ')} → ${code}`, async () => {
      const r = await cli(args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.startsWith(`crossrank: ${code}: `)).toBe(true);
      expect(r.stderr).toContain(message);
    });
  }

  it('--json puts the error on stderr as JSON; --version and --help exit 0', async () => {
    const r = await cli(['search', join(tmp, 'nowhere'), 'q', '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderr)).toEqual({ error: { code: 'ERR_COLLECTION_NOT_FOUND', message: expect.stringContaining('no collection in') } });
    const v = await cli(['--version']);
    expect(v).toEqual({ status: 0, stdout: `${(JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as { version: string }).version}\n`, stderr: '' });
    const h = await cli(['index', '--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('--id-field <name>');
  });
});
