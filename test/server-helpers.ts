// Shared by the server test files: a real listening server, JSON requests over loopback, the CLI
// as a child process, and reading one Prometheus counter.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

export const KEY = 'test-key-0123456789abcdef';
export const OTHER_KEY = 'other-key-0123456789abcdef';

/** Listen on a free loopback port; the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

export interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON answer (null when the body is not JSON). */
  body: any;
  text: string;
}

/** Read a fetch response as an Answer. */
async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** POST a JSON body (a string is sent as is) with an optional key and headers. */
export async function post(url: string, body: unknown, key: string | null = KEY, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Answer> {
  return answer(
    await fetch(url, {
      method: 'POST',
      ...(signal ? { signal } : {}),
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

export async function get(url: string, key: string | null = KEY): Promise<Answer> {
  return answer(await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} }));
}

/** The value of one sample of a Prometheus text exposition (0 when absent). */
export function metric(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

export interface Cli {
  child: ChildProcess;
  url: string;
  output(): string;
  exit: Promise<number | null>;
}

// Servers a failed test leaves behind die with the test process.
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Start `crossrank serve` with these arguments; resolves once it listens (or rejects with its output). */
export function startCli(args: string[], env: Record<string, string> = {}): Promise<Cli> {
  const cli = join(import.meta.dirname, '../dist/cli.js');
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { env: { ...process.env, ...env } });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listen line in: ${out}`)), 30_000);
    const check = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out, exit });
      }
    };
    child.stdout.on('data', check);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${out}`));
    });
  });
}

/** Poll `check` every 20 ms until it returns true (or fail after `ms`). */
export async function until(check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
