// One writer, many readers, across processes: a second writer is refused with the holder's pid
// (or waits), a killed writer leaves no lock behind, and two readers searching in a loop while a
// writer adds 20 000 documents (replacing some as it goes) see only existing documents with a
// text of their own — never an older version after a newer one — and, at the end, the final text.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Collection } from '../src/index.js';
import { rejectionOf } from './helpers.js';
import { docs, versionOf } from './fixtures/synthetic-docs.mjs';

const WRITER = join(import.meta.dirname, 'fixtures/collection-writer.mjs');
const READER = join(import.meta.dirname, 'fixtures/collection-reader.mjs');
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `crossrank-${p}-`));

interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line that matches. */
  line(re: RegExp): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function child(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  const lines: string[] = [];
  const waiting: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(l);
      for (const w of waiting.filter((x) => x.re.test(l))) w.resolve(l);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    proc,
    lines,
    line: (re) => new Promise((resolve) => (lines.find((l) => re.test(l)) ? resolve(lines.find((l) => re.test(l))!) : waiting.push({ re, resolve }))),
    exit: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, stderr }))),
  };
}

describe('writers across processes', () => {
  it('a second writer gets ERR_COLLECTION_LOCKED with the holder\'s pid; a SIGKILLed holder leaves no lock; the data is intact', async () => {
    const dir = tmp('xlock');
    const c = await Collection.create(dir, { bm25: true });
    await c.add(docs(0, 50));
    await c.close();
    const holder = child(WRITER, ['hold', dir]);
    await holder.line(/^locked$/);
    const e = await rejectionOf(Collection.open(dir));
    expect(e.code).toBe('ERR_COLLECTION_LOCKED');
    expect(e.message).toContain(`pid ${holder.proc.pid}`);
    expect((e as { pid?: number }).pid).toBe(holder.proc.pid);
    // Readers are not held up by the writer.
    const r = await Collection.open(dir, { readOnly: true });
    expect((await r.search('uniq17', { first: 'bm25', topK: 1 })).hits[0]!.id).toBe('d17');
    await r.close();
    holder.proc.kill('SIGKILL');
    expect((await holder.exit).signal).toBe('SIGKILL');
    const w = await Collection.open(dir); // at once: the kernel released the dead holder's lock
    expect(w.size).toBe(50);
    expect((await w.verify()).ok).toBe(true);
    await w.close();
  });

  it('two writers started together: one adds, the other is refused — or, with lockTimeoutMs, waits its turn', async () => {
    const dir = tmp('race');
    await (await Collection.create(dir, { bm25: true })).close();
    // Each holds the lock 500 ms before adding, so the two surely overlap.
    const [a, b] = [child(WRITER, ['add', dir, '0', '100', '0', '500']), child(WRITER, ['add', dir, '100', '200', '0', '500'])];
    const results = await Promise.all([a, b].map(async (c) => ({ exit: await c.exit, out: JSON.parse(c.lines.at(-1)!) as { code?: string; added?: number } })));
    expect(results.map((r) => r.exit.code).sort()).toEqual([0, 3]);
    const winner = results.findIndex((r) => r.exit.code === 0);
    expect(results[winner]!.out).toEqual({ added: 100, replaced: 0, skipped: 0 });
    expect(results[1 - winner]!.out.code).toBe('ERR_COLLECTION_LOCKED');
    const w = await Collection.open(dir);
    expect(w.size).toBe(100);
    const from = winner * 100;
    for (const i of [from, from + 50, from + 99]) expect(w.get(`d${i}`)?.text).toBe(docs(i, i + 1)[0].text);
    expect((await w.verify()).ok).toBe(true);
    await w.close();
    const waiters = [child(WRITER, ['add', dir, '200', '300', '20000', '300']), child(WRITER, ['add', dir, '300', '400', '20000', '300'])];
    expect((await Promise.all(waiters.map((c) => c.exit))).map((x) => x.code)).toEqual([0, 0]);
    const after = await Collection.open(dir, { readOnly: true });
    expect(after.size).toBe(300);
    expect((await after.verify()).ok).toBe(true);
    await after.close();
  });
});

describe('one writer, two readers', () => {
  it('readers searching while 20 000 documents are added (and replaced) see existing documents with their own text, then the final one', async () => {
    const root = tmp('readers');
    const dir = join(root, 'col');
    const versions = join(root, 'versions.json');
    const writer = child(WRITER, ['bulk', dir, '20000', versions]);
    await writer.line(/^created$/);
    const readers = ['refresh', 'auto'].map((mode) => child(READER, [dir, mode, versions]));
    const w = await writer.exit;
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    for (const r of readers) {
      const exit = await r.exit;
      expect(exit.stderr).toBe('');
      expect(exit.code).toBe(0);
      const report = JSON.parse(r.lines.at(-1)!) as { iterations: number; hits: number; seqs: number[]; errors: string[]; violations: string[] };
      expect(report.errors).toEqual([]);
      expect(report.violations).toEqual([]);
      // They searched while the writer worked: across several checkpoints, with hits to check.
      expect(report.seqs.length).toBeGreaterThanOrEqual(3);
      expect(report.hits).toBeGreaterThan(1000);
    }
    const col = await Collection.open(dir, { readOnly: true });
    expect(col.size).toBe(20_000);
    expect(col.staleVectors).toBeGreaterThan(0); // HNSW: the replaced versions' vectors
    const report = await col.verify({ sample: 64 });
    expect(report.problems).toEqual([]);
    expect(versionOf('d0', col.get('d0')!.text)).toBeGreaterThanOrEqual(0);
    await col.close();
  }, 240_000);
});
