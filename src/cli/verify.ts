/** `crossrank verify <collection-dir>`: SQLite against every index; exit 1 when something is wrong. */
import { Command } from 'commander';
import type { VerifyProblem, VerifyReport } from '../collection/collection.js';
import { EXIT_FAILURE, int, printJson } from './common.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description('check SQLite against every index (counts, id maps, a sample of vectors re-embedded); exit 1 when something is wrong')
    .argument('<collection-dir>')
    .option('--repair', 'rebuild every index from SQLite when something is wrong (opens the collection for writing)')
    .option('--sample <n>', 'documents re-embedded and compared with their stored vectors', int('--sample', 0), 32)
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, o: { repair?: boolean; sample: number; json?: boolean }) => {
      const { Collection } = await import('../collection/collection.js');
      const col = await Collection.open(dir, o.repair ? {} : { readOnly: true, refreshIntervalMs: 0 });
      let report: VerifyReport;
      try {
        report = await col.verify({ sample: o.sample, repair: Boolean(o.repair) });
      } finally {
        await col.close();
      }
      if (o.json) printJson(report);
      else {
        const list = (ps: VerifyProblem[]) => ps.map((p) => `  ${p.part}: ${p.message}`).join('\n');
        if (report.repaired) console.log(`repaired: rebuilt every index from SQLite; it had ${report.repaired.length} problem(s):\n${list(report.repaired)}`);
        const c = report.checked;
        const parts = [
          c.bm25 && `BM25 ${c.bm25.live} live of ${c.bm25.entries}`,
          c.dense && `dense ${c.dense.vectors} vectors (${c.dense.stale} stale${c.dense.enumerated ? ', every id listed' : ''}, ${c.dense.sampled} re-embedded)`,
          c.pending && `pending ${c.pending.vectors} vectors (${c.pending.sampled} re-embedded)`,
        ].filter(Boolean);
        console.log(`${report.ok ? 'ok' : 'PROBLEMS'}: checkpoint ${report.seq}, ${report.documents} documents; ${parts.join('; ')}`);
        if (!report.ok) console.log(list(report.problems));
      }
      if (!report.ok) process.exitCode = EXIT_FAILURE;
    });
}
