// What `npm install crossrank` gets: the packed file list, the prebuild's dynamic dependencies
// against the allow-list, and the install script's one message when a source build cannot start.
// The slow end-to-end proof (clean Debian root, no compiler) is scripts/verify-package.sh.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const prebuildDir = join(root, 'prebuilds', 'linux-x64');
const addonName = 'crossrank.napi.glibc.node';
const allow = (JSON.parse(readFileSync(join(root, 'scripts/prebuild-allow.json'), 'utf8')).system as string[]).map((s) => new RegExp(`^${s}$`));
const sources = JSON.parse(readFileSync(join(root, 'native/sources.json'), 'utf8')).sources as string[];
const ortInclude = spawnSync(process.execPath, ['scripts/native-paths.cjs', 'ort-include'], { cwd: root, encoding: 'utf8' }).stdout;
const systemDeps = JSON.parse(readFileSync(join(root, 'scripts/system-deps.json'), 'utf8'));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

function needed(file: string): string[] {
  const r = run('readelf', ['-d', file]);
  expect(r.status).toBe(0);
  return [...r.out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

/** A copy of the package as npm installs it (no src/, so install.cjs acts as in node_modules). */
function installedCopy(): string {
  mkdirSync(join(root, '.scratch'), { recursive: true });
  const dir = mkdtempSync(join(root, '.scratch', 'pkg-'));
  for (const f of ['package.json', 'CMakeLists.txt', 'native', 'scripts']) cpSync(join(root, f), join(dir, f), { recursive: true });
  return dir;
}

describe('linux-x64 prebuild', () => {
  it('ships every library outside the allow-list beside the addon, and needs libonnxruntime from onnxruntime-node', () => {
    const r = run('bash', ['scripts/prebuild.sh', '--no-build']);
    expect(r.status, r.out).toBe(0);
    const files = readdirSync(prebuildDir);
    expect(files).toContain(addonName);
    const addonNeeds = needed(join(prebuildDir, addonName));
    expect(addonNeeds).toContain('libonnxruntime.so.1');
    for (const f of files) {
      for (const lib of needed(join(prebuildDir, f))) {
        const ok = allow.some((re) => re.test(lib)) || files.includes(lib);
        expect(ok, `${f} needs ${lib}`).toBe(true);
      }
    }
    // The shipped libraries are exactly what the source build takes from the system.
    const fromSystem = needed(join(root, 'build/Release/crossrank.node')).filter((l) => !allow.some((re) => re.test(l)));
    expect(fromSystem.length).toBeGreaterThan(0);
    for (const lib of fromSystem) expect(files).toContain(lib);
  });

  it('the check rejects an addon whose libraries are not shipped beside it, naming each', () => {
    mkdirSync(join(root, '.scratch'), { recursive: true });
    const dir = mkdtempSync(join(root, '.scratch', 'check-'));
    try {
      cpSync(join(root, 'build/Release/crossrank.node'), join(dir, addonName));
      const r = run('bash', ['scripts/prebuild-check.sh', dir]);
      expect(r.status).toBe(1);
      const fromSystem = needed(join(dir, addonName)).filter((l) => !allow.some((re) => re.test(l)));
      for (const lib of fromSystem) expect(r.out).toContain(`needs ${lib}, which is neither allowed`);
      expect(r.out).not.toContain('needs libonnxruntime.so.1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm pack', () => {
  it('packs dist, the native sources, the prebuild, README and LICENSE, and nothing else', () => {
    // A copy of the checkout's kinds of files, with a real prebuilt addon and junk npm must leave
    // out; the full-size pack (and its size) is scripts/verify-package.sh's.
    const dir = installedCopy();
    try {
      for (const f of ['dist', 'README.md', 'LICENSE']) cpSync(join(root, f), join(dir, f), { recursive: true });
      mkdirSync(join(dir, 'prebuilds/linux-x64'), { recursive: true });
      cpSync(join(root, 'build/Release/crossrank.node'), join(dir, 'prebuilds/linux-x64', addonName));
      for (const junk of ['test/a.test.ts', 'src/a.ts', 'build/Release/crossrank.node', 'native/fuzz/a.cc', 'bench/a.js', '.ci/run', 'tsconfig.json']) {
        mkdirSync(join(dir, junk, '..'), { recursive: true });
        writeFileSync(join(dir, junk), 'x');
      }
      const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], process.env, dir);
      expect(r.status, r.out).toBe(0);
      const [info] = JSON.parse(r.stdout) as { files: { path: string }[] }[];
      const paths = info.files.map((f) => f.path);
      const allowed = /^(dist\/.+\.(js|d\.ts)|native\/.+\.(cc|h|json)|prebuilds\/linux-x64\/[^/]+|scripts\/(install\.cjs|native-paths\.cjs|system-deps\.json)|CMakeLists\.txt|README\.md|LICENSE|package\.json)$/;
      expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
      for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/native.js', 'LICENSE', 'README.md', 'CMakeLists.txt',
        'native/sources.json', 'scripts/install.cjs', 'scripts/native-paths.cjs', 'scripts/system-deps.json', `prebuilds/linux-x64/${addonName}`, ...sources]) {
        expect(paths).toContain(p);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('install script', () => {
  it('does nothing in a source checkout (npm ci never compiles; npm run build does)', () => {
    const r = run(process.execPath, ['scripts/install.cjs']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('source checkout');
  });

  it('without cmake or a compiler, --build-from-source ends with one message naming the packages per platform', () => {
    const dir = installedCopy();
    try {
      const r = run(process.execPath, ['scripts/install.cjs'], { PATH: '/nonexistent', CROSSRANK_BUILD_FROM_SOURCE: '1', HOME: dir, ORT_INCLUDE_DIR: ortInclude }, dir);
      expect(r.status).toBe(1);
      expect(r.out).toContain('missing: cmake, C++20 compiler.');
      expect(r.out).toContain(`Debian/Ubuntu:    sudo apt-get install ${systemDeps.tools.cmake.debian} ${systemDeps.tools['C++20 compiler'].debian}\n`);
      expect(r.out).toContain(`Fedora:           sudo dnf install ${systemDeps.tools.cmake.fedora} ${systemDeps.tools['C++20 compiler'].fedora}\n`);
      expect(r.out).toContain(`macOS (Homebrew): brew install ${systemDeps.tools.cmake.brew} ${systemDeps.tools['C++20 compiler'].brew}\n`);
      expect(existsSync(join(dir, 'build'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a system library CMake cannot find ends the build at configure with the same message, before compiling', () => {
    const dir = installedCopy();
    try {
      const sj = JSON.parse(readFileSync(join(dir, 'native/sources.json'), 'utf8'));
      sj.libraries.push('crossrank_absent');
      writeFileSync(join(dir, 'native/sources.json'), JSON.stringify(sj));
      const deps = JSON.parse(readFileSync(join(dir, 'scripts/system-deps.json'), 'utf8'));
      deps.libraries.crossrank_absent = { header: 'crossrank_absent.h', debian: 'libabsent-dev', fedora: 'absent-devel', brew: 'absent' };
      writeFileSync(join(dir, 'scripts/system-deps.json'), JSON.stringify(deps));
      const r = run(process.execPath, ['scripts/install.cjs'], { ...process.env, CROSSRANK_BUILD_FROM_SOURCE: '1', ORT_INCLUDE_DIR: ortInclude }, dir);
      expect(r.status).toBe(1);
      expect(r.out).toContain('missing: crossrank_absent.');
      expect(r.out).toContain('Debian/Ubuntu:    sudo apt-get install libabsent-dev\n');
      expect(r.out).toContain('Fedora:           sudo dnf install absent-devel\n');
      expect(r.out).toContain('macOS (Homebrew): brew install absent\n');
      expect(r.out).not.toContain('CMake Error');
      expect(readdirSync(join(dir, 'build')).filter((f) => f.endsWith('.node') || f === 'Release')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
