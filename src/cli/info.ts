/** `crossrank info`: the FAISS build and the SIMD level its kernels run at (JSON). */
import { Command } from 'commander';
import { printJson } from './common.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('the FAISS build and the SIMD level its kernels run at (JSON)')
    .action(async () => printJson((await import('../index/faiss-index.js')).faissInfo()));
}
