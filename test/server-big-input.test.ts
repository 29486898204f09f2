// One request with a 1 MB query and a 1 MB document, through `crossrank serve` (limits raised to let
// it in): answered, with the server's peak RSS growing by a small multiple of the text. Needs
// tokenization that builds no overflow windows unless chunking asks for them (the pair is cut to
// the model's 512 tokens, not split into the cross product of windows). A watchdog kills the
// server if it passes 2 GiB or the requests take over 90 s, so a regression fails here instead of
// exhausting the machine.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadBeir } from '../src/index.js';
import { get, KEY, post, startCli, until } from './server-helpers.js';
import { requireShared } from './shared.js';

/** A /proc/<pid>/status field in bytes (VmRSS now, VmHWM the peak). */
function procKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('a 1 MB query with a 1 MB document', () => {
  it('is scored with the server RSS bounded by a small multiple of the text', async () => {
    const corpus = loadBeir(requireShared('fixtures/ir/beir-arguana')).docs.map((d) => `${d.title} ${d.text}`);
    const MB = 1 << 20;
    const grow = (from: number) => {
      let s = '';
      for (let i = from; s.length < MB; i++) s += `${corpus[i % corpus.length]} `;
      return s.slice(0, MB);
    };
    const query = grow(0);
    const doc = grow(4000);
    const s = await startCli(['--rerank', requireShared('models/bert-tiny-cross'), '--api-key', KEY, '--max-query-chars', String(2 * MB), '--max-document-chars', String(2 * MB)]);
    const pid = s.child.pid!;
    let peakSeen = 0;
    const watchdog = setInterval(() => {
      try {
        peakSeen = Math.max(peakSeen, procKb(pid, 'VmRSS'));
        if (peakSeen > 2 * 1024 * MB) s.child.kill('SIGKILL');
      } catch {
        clearInterval(watchdog);
      }
    }, 20);
    const give = AbortSignal.timeout(90_000);
    give.addEventListener('abort', () => s.child.kill('SIGKILL'));
    try {
      await until(async () => (await get(`${s.url}/health`, null)).status === 200);
      // Warm up with a request of ordinary size, then take the peak so far as the baseline.
      expect((await post(`${s.url}/rerank`, { query: 'warm up', texts: corpus.slice(0, 20) })).status).toBe(200);
      const before = procKb(pid, 'VmHWM');
      const failed = (e: Error) => {
        throw new Error(`the request failed (${e.message}); server RSS reached ${(peakSeen / MB).toFixed(0)} MiB`);
      };
      const res = await post(`${s.url}/rerank`, { query, texts: [doc, 'a short document'], return_text: false }, KEY, {}, give).catch(failed);
      expect(res.status, res.text.slice(0, 300)).toBe(200);
      expect(res.body).toHaveLength(2);
      // truncate: false measures both texts in full (tokenized without cutting) and refuses the pair.
      const strict = await post(`${s.url}/rerank`, { query, texts: [doc], truncate: false }, KEY, {}, give).catch(failed);
      expect(strict.status).toBe(413);
      expect(strict.body.value).toBeGreaterThan(100_000);
      const grown = procKb(pid, 'VmHWM') - before;
      console.log(`1 MB query + 1 MB document: peak RSS grew ${(grown / MB).toFixed(1)} MiB (text: 2 MiB)`);
      // Linear, not the quadratic window product (GiBs): ~60 MiB for scoring, ~45 more for measuring both texts in full.
      expect(grown).toBeLessThan(96 * 2 * MB);
    } finally {
      clearInterval(watchdog);
      s.child.kill('SIGKILL');
      await s.exit;
    }
  }, 150_000);
});
