// Framework packages are optional peers: the core package needs none of them, and a subpath
// imported without its framework fails with ERR_MISSING_PEER naming the package to install.
// The subpaths are tested as a user gets them: through package.json "exports" into dist/.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CrossrankError } from '../src/errors.js';
import { loadPeer, packageOf } from '../src/integrations/peer.js';
import { rejectionOf } from './helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; import: string }>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const SUBPATHS = { './ai-sdk': '@ai-sdk/provider', './langchain': '@langchain/core', './llamaindex': '@llamaindex/core' } as const;

/** Run an ES module snippet with node in `cwd`; resolution follows the symlinks' own paths. */
function node(cwd: string, code: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(process.execPath, ['--preserve-symlinks', '--input-type=module', '-e', code], { cwd, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    return { ok: false, out: String((e as { stdout?: string }).stdout) + String((e as { stderr?: string }).stderr) };
  }
}

describe('optional framework peers', () => {
  it('loadPeer names the missing package and the install command; other failures pass through', async () => {
    const e = await rejectionOf(loadPeer('@crossrank-test/no-such-framework/sub/module', 'crossrank/test'));
    expect(e).toBeInstanceOf(CrossrankError);
    expect(e.code).toBe('ERR_MISSING_PEER');
    expect(e.message).toContain('crossrank/test needs the package "@crossrank-test/no-such-framework"');
    expect(e.message).toContain('npm install @crossrank-test/no-such-framework');
    expect((await rejectionOf(loadPeer('crossrank-test-no-such-framework', 'crossrank/test'))).message).toContain('npm install crossrank-test-no-such-framework');
    // A dependency of the framework missing is not the framework missing: the original error.
    const inner = Object.assign(new Error("Cannot find package 'p-queue' imported from /app/node_modules/@langchain/core/dist/x.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(await rejectionOf(loadPeer('@langchain/core/retrievers', 'crossrank/langchain', () => Promise.reject(inner)))).toBe(inner);
    const broken = new SyntaxError('Unexpected token');
    expect(await rejectionOf(loadPeer('@langchain/core/retrievers', 'crossrank/langchain', () => Promise.reject(broken)))).toBe(broken);
    expect([packageOf('@a/b/c'), packageOf('ai'), packageOf('ai/rsc')]).toEqual(['@a/b', 'ai', 'ai']);
  });

  it('package.json: each subpath has types and import in dist/; frameworks are optional peers, not dependencies', () => {
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js', default: './dist/index.js' }); // default: require(esm)
    for (const [sub, peer] of Object.entries(SUBPATHS)) {
      const entry = pkg.exports[sub]!;
      expect(existsSync(join(ROOT, entry.import)), `${entry.import} (run npm run build:ts)`).toBe(true);
      expect(existsSync(join(ROOT, entry.types)), entry.types).toBe(true);
      expect(pkg.peerDependencies[peer]).toBeDefined();
      expect(pkg.peerDependenciesMeta[peer]).toEqual({ optional: true });
    }
    // The packed tarball carries every subpath's entry and types.
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { files: { path: string }[] }[];
    const files = new Set(packed[0]!.files.map((f) => f.path));
    for (const sub of Object.keys(SUBPATHS)) for (const f of [pkg.exports[sub]!.import, pkg.exports[sub]!.types]) expect(files.has(f.slice(2)), f).toBe(true);
    for (const framework of ['ai', '@ai-sdk/provider', '@langchain/core', '@llamaindex/core', 'langchain', 'llamaindex']) expect(pkg.dependencies[framework]).toBeUndefined();
  });

  it('in an install without the frameworks: the core imports; each subpath fails naming its package; with them, each loads', () => {
    // node_modules holding crossrank and every package beside it except the framework scopes.
    const app = mkdtempSync(join(tmpdir(), 'crossrank-peers-'));
    try {
      const nm = join(app, 'node_modules');
      mkdirSync(nm);
      // crossrank as installed: its files, without the project's own node_modules.
      mkdirSync(join(nm, 'crossrank'));
      for (const f of ['package.json', 'dist', 'build']) symlinkSync(join(ROOT, f), join(nm, 'crossrank', f));
      for (const name of readdirSync(join(ROOT, 'node_modules'))) {
        if (['@ai-sdk', '@langchain', '@llamaindex', '.bin', '.package-lock.json'].includes(name)) continue;
        symlinkSync(join(ROOT, 'node_modules', name), join(nm, name));
      }
      const core = node(app, "const m = await import('crossrank'); console.log(typeof m.CrossEncoder.load);");
      expect(core).toEqual({ ok: true, out: 'function\n' });
      for (const [sub, peer] of Object.entries(SUBPATHS)) {
        const r = node(app, `await import('crossrank/${sub.slice(2)}').then(() => console.log('loaded'), (e) => console.log(e.name, e.code, e.message));`);
        expect(r.ok).toBe(true);
        expect(r.out).toContain(`CrossrankError ERR_MISSING_PEER crossrank/${sub.slice(2)} needs the package "${peer}"`);
        expect(r.out).toContain(`npm install ${peer}`);
      }
      // In plain Node (not the test runner's resolver): an installed framework without the module asked for.
      const old = node(ROOT, "const { loadPeer } = await import('./dist/integrations/peer.js'); await loadPeer('@langchain/core/no-such-entry', 'crossrank/langchain').catch((e) => console.log(e.code, e.message));");
      expect(old.out).toContain('ERR_MISSING_PEER crossrank/langchain needs the package "@langchain/core", which is not installed (or lacks "@langchain/core/no-such-entry")');
      // The same imports from the project itself, where the frameworks are installed.
      const all = node(ROOT, "const [a, l, i] = await Promise.all(['ai-sdk', 'langchain', 'llamaindex'].map((s) => import('crossrank/' + s))); console.log(typeof a.createCrossrank, typeof l.CrossrankRerank, typeof i.CrossrankRerank);");
      expect(all).toEqual({ ok: true, out: 'function function function\n' });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});
