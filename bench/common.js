// Shared by benchmarks and tests: where ../shared is, and benchmark CLI conventions.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
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

/** Value of `--name value` on the command line, or `dflt`. */
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

/** Median wall time in ms of `reps` runs of `fn` after one warm-up run. */
export async function medianMs(fn, reps) {
  return (await interleavedMs({ fn }, reps)).fn;
}

/**
 * Median wall time in ms of each function, run in turn within every repetition (after one warm-up
 * each), so slow drifts of the machine hit all of them alike.
 */
export async function interleavedMs(fns, reps) {
  const times = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (const fn of Object.values(fns)) await fn();
  for (let r = 0; r < reps; r++) {
    for (const [k, fn] of Object.entries(fns)) {
      const t0 = performance.now();
      await fn();
      times[k].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([k, t]) => [k, t.sort((a, b) => a - b)[Math.floor(t.length / 2)]]),
  );
}

/**
 * A MiniLM-L6-shape cross-encoder (random weights, real BERT tokenizer) generated with
 * ../shared/tools/make_ref_model.py into the ignored .models/ folder, fp32 and int8.
 */
export function minilmCross() {
  const dir = join(repoRoot, '.models', 'minilm-l6-cross');
  const tool = sharedPath('tools', 'make_ref_model.py');
  const tokSrc = sharedPath('models', 'bert-tiny-cross');
  if (!tool || !tokSrc) return null;
  const shape = ['--kind', 'cross', '--layers', '6', '--hidden', '384', '--heads', '12', '--ffn', '1536', '--std', '0.05'];
  for (const [file, extra] of [['model.onnx', []], ['model_quantized.onnx', ['--quant']]]) {
    if (!existsSync(join(dir, 'onnx', file))) {
      console.error(`generating ${dir}/onnx/${file} with make_ref_model.py …`);
      execFileSync('/usr/bin/python3', [tool, dir, ...shape, ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
  }
  // The tokenizer files are the real BERT uncased ones the shared reference models use.
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt']) {
    if (!existsSync(join(dir, f))) copyFileSync(join(tokSrc, f), join(dir, f));
  }
  return dir;
}
