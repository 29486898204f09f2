// Hostile input: every case of test/fixtures/hostile/cases.mjs — the crashes, hangs and untyped
// errors measured in issue 21 and many more (argument types and ranges at the TS API and at the
// addon's own entry points, crafted tokenizer.json / config.json / ONNX / index files, sizes, worker
// threads terminated and the process exiting mid-call, thread creation failing under an address
// space limit) — runs in its own child process under a time limit, so a crash or a hang is a red
// test, not a dead runner. Each must end exactly as its table row says: an error carrying that
// code, or that result. `node test/fixtures/hostile/run.mjs [filter]` prints the same cases as a
// crashed / hung / typed / untyped / ok table.
import { describe, expect, it } from 'vitest';
import { cases } from './fixtures/hostile/cases.mjs';
import { limitOf, runCase } from './fixtures/hostile/run.mjs';

interface HostileCase {
  name: string;
  expect: { code: string } | { ok: unknown };
  timeoutMs?: number;
}

const table = cases as HostileCase[];

describe('hostile input: no crash, no hang, only typed errors', () => {
  it('has at least as many cases as issue 21 measured (218), each named once', () => {
    expect(table.length).toBeGreaterThanOrEqual(218);
    expect(new Set(table.map((c) => c.name)).size).toBe(table.length);
  });

  // Each case's own limit (the child is killed at it and reported as hung), plus time to start it.
  const timeout = Math.max(...table.map((c) => limitOf(c))) + 30_000;
  it.concurrent.each(table.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await runCase(c);
    const got = { status: r.status, code: r.code ?? null, value: r.status === 'ok' ? r.value : undefined };
    const want = 'code' in c.expect
      ? { status: 'typed', code: c.expect.code, value: undefined }
      : { status: 'ok', code: null, value: c.expect.ok };
    expect(got, `${r.message ?? ''}\n${r.stderr}`).toEqual(want);
  }, timeout);
});
