// README examples are tests: every ```ts, ```js and ```sh block of README.md runs as written, twice,
// in a fresh folder of its own (so an example that only works once is red too). Hub ids are served
// by the local stand-in hub (the random-weight models of ../shared under the real ids), `crossrank`
// on PATH is this checkout's dist/cli.js, DATABASE_URL is an in-process Postgres (PGlite over the
// wire protocol) and LLM_BASE_URL a local OpenAI-compatible stand-in.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type HubServer } from './fixtures/hub-server.js';
import { startLlmServer, type LlmServer } from './fixtures/llm-server.js';
import { requireShared } from './shared.js';

const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Block {
  lang: 'ts' | 'js' | 'sh';
  line: number;
  code: string;
}

/** Every fenced ts/js/sh block, with the README line its fence opens on. */
export function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  for (const m of text.matchAll(/^```(ts|js|sh)\n([\s\S]*?)^```$/gm)) {
    blocks.push({ lang: m[1] as Block['lang'], line: text.slice(0, m.index).split('\n').length, code: m[2]! });
  }
  return blocks;
}

interface Run {
  status: number | null;
  out: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, timeout: 120_000 });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('close', (status) => resolve({ status, out }));
  });
}

const blocks = readmeBlocks(README);
let hub: HubServer;
let llm: LlmServer;
let db: PGlite;
let pg: PGLiteSocketServer;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // Every cross-encoder/… and sentence-transformers/… id the README names, served by the random-weight stand-ins.
  const ids = new Set(README.match(/\b(?:cross-encoder|sentence-transformers)\/[\w.-]+\b/g));
  hub = await startHub(Object.fromEntries([...ids].map((id) => [id, { dir: requireShared(id.startsWith('cross-encoder/') ? 'models/bert-tiny-cross' : 'models/bert-tiny-bi') }])));
  // The LLM puts the passages in reverse order, whatever the window.
  llm = await startLlmServer((req) => {
    const n = (req.body.messages.at(-1)!.content.match(/^\[\d+\]/gm) ?? []).length;
    return { content: Array.from({ length: n }, (_, i) => `[${n - i}]`).join(' > ') };
  });
  db = await PGlite.create({ extensions: { vector } });
  pg = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await pg.start();
  work = mkdtempSync(join(tmpdir(), 'crossrank-readme-'));
  // A project that installed crossrank: node_modules/crossrank is this checkout, beside its dependencies.
  const modules = join(work, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(join(ROOT, 'node_modules'))) if (!name.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  symlinkSync(ROOT, join(modules, 'crossrank'));
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'crossrank'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/cli.js')}" "$@"\n`);
  chmodSync(join(bin, 'crossrank'), 0o755);
  const { HF_TOKEN: _t, HF_HUB_OFFLINE: _o, ...rest } = process.env;
  env = {
    ...rest,
    PATH: `${bin}:${process.env.PATH}`,
    HF_ENDPOINT: hub.url,
    HF_HUB_CACHE: join(work, 'hf-cache'),
    LLM_BASE_URL: llm.url,
    DATABASE_URL: `postgres://postgres@127.0.0.1:${pg.getServerConn().split(':').pop()}/postgres`,
    NO_COLOR: '1',
  };
});

afterAll(async () => {
  await Promise.all([hub?.close(), llm?.close()]);
  await pg?.stop();
  await db?.close();
});

describe('README.md', () => {
  it('has the blocks this test expects to run (a fence it cannot read would be skipped silently)', () => {
    const fences = README.match(/^```\S*$/gm)!.filter((f) => f !== '```');
    expect(fences.length).toBe(blocks.length);
    expect(blocks.length).toBeGreaterThanOrEqual(12);
  });

  it('says how CommonJS loads crossrank, and require() does load it (require(esm): Node 20.19+, 22.12+)', async () => {
    expect(README).toContain("From CommonJS,\n`require('crossrank')` works on Node ≥ 22.12 (`require(esm)`)");
    const r = await run(process.execPath, ['-e', "const m = require('crossrank'); console.log(typeof m.CrossEncoder, typeof m.Collection)"], work, env);
    expect(r).toEqual({ status: 0, out: 'function function\n' });
  });

  for (const block of blocks) {
    it(`the ${block.lang} block at line ${block.line} runs as written, twice in one fresh folder`, async () => {
      // Inside the project folder: packages resolve from its node_modules, as for someone who installed crossrank.
      const dir = mkdtempSync(join(work, `block-${block.line}-`));
      let cmd: [string, string[]];
      if (block.lang === 'sh') {
        writeFileSync(join(dir, 'example.sh'), block.code);
        cmd = ['bash', ['-euo', 'pipefail', 'example.sh']];
      } else {
        const js = ts.transpileModule(block.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
        writeFileSync(join(dir, 'example.mjs'), js);
        cmd = [process.execPath, ['example.mjs']];
      }
      for (const round of [1, 2]) {
        const r = await run(cmd[0], cmd[1], dir, env);
        expect(r.status, `round ${round} of README line ${block.line}:\n${r.out}`).toBe(0);
      }
    });
  }
});
