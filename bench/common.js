// Shared by benchmarks and tests: where ../shared is, and benchmark CLI conventions.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The fixtures folder: $CROSSRANK_SHARED, default ../shared beside the repository. */
export function sharedDir() {
  return resolve(repoRoot, process.env.CROSSRANK_SHARED ?? '../shared');
}

/** Path inside shared/, or null when it is absent (callers skip, naming the path). */
export function sharedPath(...parts) {
  const p = join(sharedDir(), ...parts);
  return existsSync(p) ? p : null;
}

/** True when the benchmark runs in --test smoke mode (tiny sizes, no goals asserted). */
export const smoke = process.argv.includes('--test');

export function ratio(a, b) {
  return (a / b).toFixed(2) + '×';
}
