#!/usr/bin/env node
// npm's "install" script for crossrank.
//   - In a source checkout it does nothing: `npm run build` builds the addon (this script replaces
//     npm's default `node-gyp rebuild`, so `npm ci` never compiles).
//   - In an installed package it uses the prebuild in prebuilds/<platform>-<arch>/ when one loads
//     here, else (or with `npm install --build-from-source`) builds from source with cmake-js.
//   - A missing tool or system library ends the install with one message listing what to install
//     on Debian/Ubuntu, Fedora and macOS (Homebrew), not a compiler error.
// `node scripts/install.cjs --missing-message NAME...` prints that message (CMakeLists.txt uses it).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const deps = require('./system-deps.json');
const MARK = 'crossrank: cannot build the native addon from source';

function entry(name) {
  return deps.tools[name] || deps.libraries[name] || (name === 'onnxruntime headers' ? deps['onnxruntime headers'] : null);
}

/** The one message: what is missing, then one install line per platform for all of it. */
function missingMessage(missing) {
  const known = missing.map(entry).filter(Boolean);
  const line = (key) => [...new Set(known.map((e) => e[key]))].join(' ');
  const lines = [
    `${MARK}; missing: ${missing.join(', ')}.`,
    'Install them, then run "npm rebuild crossrank --build-from-source":',
    `  Debian/Ubuntu:    sudo apt-get install ${line('debian')}`,
    `  Fedora:           sudo dnf install ${line('fedora')}`,
    `  macOS (Homebrew): brew install ${line('brew')}`,
  ];
  if (missing.includes('onnxruntime headers')) {
    lines.push('ONNX Runtime headers: Debian 13+/Ubuntu ship libonnxruntime-dev; elsewhere (Debian 12) point',
      'ORT_INCLUDE_DIR at a directory holding onnxruntime_cxx_api.h (see the README, "Install from source").');
  }
  lines.push('Or use a platform with a prebuilt addon (linux-x64 glibc) and drop --build-from-source.');
  return lines.join('\n') + '\n';
}

function truthy(v) {
  return v !== undefined && v !== '' && v !== 'false' && v !== '0';
}

function onPath(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

function prebuildLoads() {
  try {
    const file = require('node-gyp-build').path(root);
    require(file);
    return file;
  } catch (err) {
    console.log(`crossrank: no usable prebuilt addon (${String(err.message).split('\n')[0]}); building from source`);
    return null;
  }
}

function buildFromSource() {
  const missing = [];
  if (!onPath('cmake', ['--version'])) missing.push('cmake');
  const cxx = process.env.CXX || ['c++', 'g++', 'clang++'].find((c) => onPath(c, ['--version']));
  if (!cxx || !onPath(cxx, ['--version'])) missing.push('C++20 compiler');
  try {
    require('./native-paths.cjs').ortInclude();
  } catch {
    missing.push('onnxruntime headers');
  }
  if (missing.length) {
    process.stderr.write(missingMessage(missing));
    return 1;
  }
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  fs.mkdirSync(path.join(root, 'build'), { recursive: true });
  fs.writeFileSync(path.join(root, 'build', 'install.log'), log);
  if (r.status !== 0) {
    // CMakeLists.txt prints missingMessage() for absent libraries: show that alone.
    const at = log.indexOf(MARK);
    if (at >= 0) {
      const block = log.slice(at).split('\n');
      const end = block.findIndex((l) => l.startsWith('Or use a platform'));
      process.stderr.write(block.slice(0, end + 1).join('\n') + '\n');
    } else {
      process.stderr.write(log + `\ncrossrank: the source build failed (log in ${path.join(root, 'build', 'install.log')})\n`);
    }
    return 1;
  }
  console.log('crossrank: built the native addon from source');
  return 0;
}

function main() {
  if (fs.existsSync(path.join(root, 'src', 'native.ts'))) {
    console.log('crossrank: source checkout; build the addon with "npm run build"');
    return 0;
  }
  const fromSource = truthy(process.env.npm_config_build_from_source) || truthy(process.env.CROSSRANK_BUILD_FROM_SOURCE);
  if (!fromSource) {
    const file = prebuildLoads();
    if (file) {
      console.log(`crossrank: using the prebuilt addon ${path.relative(root, file)}`);
      return 0;
    }
  }
  return buildFromSource();
}

if (process.argv[2] === '--missing-message') {
  process.stdout.write(missingMessage(process.argv.slice(3)));
} else {
  process.exitCode = main();
}
