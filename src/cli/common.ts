/**
 * What every command shares: progress bars, hub download bars, option parsers that name the flag,
 * tables, colour, and the error/exit-code contract.
 *
 * Exit codes: 0 success; 1 the command ran and failed (or `verify` found problems); 2 the command
 * line itself is wrong (unknown option, bad value, missing argument) — nothing was done.
 */
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { CrossrankError } from '../errors.js';
import type { DownloadProgress } from '../hub/hub.js';
import type { CrossEncoder } from '../inference/cross-encoder.js';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A usage error: the flag the user wrote, what it takes, what it got (exit status 2). */
export class UsageError extends CrossrankError {
  readonly exitCode = EXIT_USAGE;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Colour only where a person reads it: picocolors turns itself off without a TTY or with NO_COLOR. */
export const colour = pc;

/** A progress bar on a terminal; silent when stderr is a pipe or file. */
export function progress(label: string): { update(done: number, total: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Hub download progress: one bar per file, on a terminal only. */
export function downloads(): { onDownload(p: DownloadProgress): void; stop(): void } {
  let file = '';
  let bar = progress('');
  return {
    onDownload(p) {
      if (p.file !== file) {
        bar.stop();
        file = p.file;
        bar = progress(`downloading ${p.file}`);
      }
      if (p.total) bar.update(p.loaded, p.total);
    },
    stop: () => bar.stop(),
  };
}

/** Run `f` with hub download bars shown meanwhile. */
export async function withDownloads<T>(f: (onDownload: (p: DownloadProgress) => void) => Promise<T>): Promise<T> {
  const d = downloads();
  try {
    return await f(d.onDownload);
  } finally {
    d.stop();
  }
}

/** Load the cross-encoder named by `flag` (a directory or a hub id); errors say which flag. */
export async function loadReranker(model: string | undefined, flag = '--rerank'): Promise<CrossEncoder | undefined> {
  if (!model) return undefined;
  const { CrossEncoder } = await import('../inference/cross-encoder.js'); // loaded on use: --help and usage errors stay fast
  return withDownloads((onDownload) => CrossEncoder.load(model, { onDownload })).catch((e: unknown) => {
    throw flagged(flag, e);
  });
}

/** Put the flag the user wrote in front of a library error's message; the code stays. */
export function flagged(flag: string, e: unknown): Error {
  if (e instanceof CrossrankError) return new CrossrankError(e.code, `${flag}: ${e.message}`, { cause: e });
  return new CrossrankError('ERR_CLI', `${flag}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** Parser for an integer flag >= min. */
export function int(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} takes an integer${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` >= ${min}`}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}

/** Parser for a positive number flag (milliseconds and the like). */
export function positive(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Parser for a number flag from 0 to 1. */
export function fraction(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${flag} takes a number from 0 to 1, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Cut `text` to at most `width` characters at a word boundary, marking the cut with "…". */
export function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= width) return flat;
  const cut = flat.slice(0, width - 1);
  const space = cut.lastIndexOf(' ');
  return (space > width / 2 ? cut.slice(0, space) : cut) + '…';
}

/** Width left for a text column once the other columns are laid out (120 columns in a pipe). */
export function textWidth(used: number): number {
  const columns = process.stdout.columns ?? 120;
  return Math.max(40, columns - used);
}

/** Lines a text cell may wrap to; longer texts are cut at a word with "…". */
export const TEXT_LINES = 3;

/**
 * A table with a header row and no rules between rows. With `wrap`, the last column is that wide
 * and its text wraps at words (cut to TEXT_LINES lines by the caller with `clip`).
 */
export function table(head: string[], align: ('left' | 'right')[] = [], wrap?: number): Table.Table {
  return new Table({
    head: head.map((h) => colour.bold(h)),
    colAligns: align.length ? align : undefined,
    ...(wrap ? { colWidths: [...head.slice(1).map(() => null), wrap + 2], wordWrap: true } : {}),
    style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
}

/** Print a value for scripts: one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)) + '\n');
}
