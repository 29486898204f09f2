// Kill -9 at points the test chooses: a writer runs a workload (adds, an IVF index training,
// replacements, removals, compaction) and SIGKILLs itself at a named point of the write path
// (CROSSRANK_FAULT, src/collection/fault.ts) — inside checkpoints too: after an index file is
// written, after the manifest is renamed, while pending vectors are deleted. Reopened, the
// collection must hold every step that completed, each document once in every index, verify clean.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BiEncoder, Collection } from '../src/index.js';
import { requireShared } from './shared.js';
import { versionOf } from './fixtures/synthetic-docs.mjs';

const WRITER = join(import.meta.dirname, 'fixtures/collection-writer.mjs');
const ALL_WORDS = 'river stone light music garden paper window bridge cloud forest engine silver harbor lantern meadow copper';

/** Each document's version after `steps` steps of the workload (absent: null). */
function stateAfter(steps: number): Map<string, number | null> {
  const s = new Map<string, number | null>();
  const set = (from: number, to: number, v: number | null) => {
    for (let i = from; i < to; i++) s.set(`d${i}`, v);
  };
  set(0, 230, null);
  if (steps >= 1) set(0, 100, 0);
  if (steps >= 2) set(100, 200, 0);
  if (steps >= 3) set(0, 40, 1);
  if (steps >= 4) set(40, 55, null);
  if (steps >= 6) set(200, 230, 0);
  return s;
}

function runWriter(dir: string, kind: string, fault: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; steps: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WRITER, 'workload', dir, kind], { env: { ...process.env, CROSSRANK_FAULT: fault } });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, steps: out.split('\n').filter((l) => l.startsWith('step ')).length }));
  });
}

// (kind, point@occurrence): 21 points in the IVF workload, 6 more in the HNSW one (stale vectors, compaction).
const POINTS: [string, string][] = [
  ...[
    'add:rows-committed@2',
    'add:rows-committed@6', // the batch that makes the index train
    'add:rows-committed@9', // replacements
    'add:rows-committed@12',
    'add:indexed@3',
    'add:indexed@10',
    'checkpoint:faiss-written@1', // training's checkpoint
    'checkpoint:faiss-written@4',
    'checkpoint:bm25-written@2',
    'checkpoint:bm25-written@8',
    'checkpoint:ids-written@4',
    'checkpoint:ids-written@9', // compaction's
    'checkpoint:manifest-renamed@1', // create's
    'checkpoint:manifest-renamed@4', // training's, before pending vectors are deleted
    'checkpoint:manifest-renamed@9',
    'checkpoint:removed-deleted@7',
    'checkpoint:files-deleted@5',
    'train:trained@1',
    'train:pending-deleted-part@1',
    'remove:rows-committed@1',
    'compact:rebuilt@1',
  ].map((p): [string, string] => ['ivf', p]),
  ...['add:indexed@9', 'remove:rows-committed@1', 'compact:rebuilt@1', 'checkpoint:faiss-written@8', 'checkpoint:manifest-renamed@8', 'checkpoint:ids-written@7'].map(
    (p): [string, string] => ['hnsw', p],
  ),
];

describe('SIGKILL of a writer at chosen points', () => {
  let embedder: BiEncoder;
  beforeAll(async () => {
    embedder = await BiEncoder.load(requireShared('models/bert-tiny-bi'));
  });

  it(`reopens consistent after each of ${POINTS.length} kills: completed steps kept, every document once in each index, verify clean`, async () => {
    expect(POINTS.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    // Three writers at a time (they mostly wait for fsync); each result is checked as it comes.
    const queue = [...POINTS];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [kind, fault] = next;
        const dir = join(mkdtempSync(join(tmpdir(), 'crossrank-crash-')), 'col');
        const run = await runWriter(dir, kind, fault);
        const where = `${kind} ${fault} (after ${run.steps} steps)`;
        if (run.signal !== 'SIGKILL') {
          failures.push(`${where}: the writer was not killed (exit ${run.code}, ${run.stderr.slice(0, 300)})`);
          continue;
        }
        const col = await Collection.open(dir, { embedder });
        try {
          const report = await col.verify({ sample: 16 });
          if (!report.ok) failures.push(`${where}: verify: ${report.problems.map((p) => `${p.part}: ${p.message}`).join('; ')}`);
          // The steps that completed are there; the interrupted one left each document before or after it.
          const [done, next] = [stateAfter(run.steps), stateAfter(run.steps + 1)];
          for (const [id, want] of done) {
            const got = col.get(id);
            const v = got ? versionOf(id, got.text) : null;
            if (v !== want && v !== next.get(id)) failures.push(`${where}: ${id} is ${got ? `version ${v}` : 'absent'}, expected ${want ?? 'absent'}`);
          }
          // Every document in SQLite comes back exactly once from each first stage asked for all of them.
          const n = col.size;
          const probe = kind === 'ivf' ? { nprobe: 8 } : {};
          for (const first of n ? (['dense', 'bm25'] as const) : []) {
            const hits = (await col.search(ALL_WORDS, { first, candidates: n, topK: n, ...probe })).hits;
            const ids = new Set(hits.map((h) => h.id));
            if (hits.length !== n || ids.size !== n) failures.push(`${where}: ${first} gave ${hits.length} hits, ${ids.size} distinct, for ${n} documents`);
            const wrong = hits.filter((h) => col.get(h.id)?.text !== h.text);
            if (wrong.length) failures.push(`${where}: ${first} hits with text not the document's: ${wrong.map((h) => h.id).join(', ')}`);
          }
          // And each finds itself by its own text.
          const own = col.get('d10');
          const top = own && (await col.search(own.text, { first: 'dense', topK: 1, ...probe })).hits[0];
          if (own && top?.id !== 'd10') failures.push(`${where}: d10's own text finds ${top?.id}`);
        } finally {
          await col.close();
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(failures).toEqual([]);
  }, 300_000);
});
