// Where the native build finds ONNX Runtime, for CMakeLists.txt and scripts/install.cjs.
// Usage: node scripts/native-paths.cjs ort-include | ort-lib | ort-rpath
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');

// Headers: ORT_INCLUDE_DIR, else the copy scripts/setup.sh extracts on Debian 12, else the OS
// package's place (Debian/Ubuntu libonnxruntime-dev, Fedora onnxruntime-devel, Homebrew onnxruntime).
function ortIncludeCandidates() {
  const brew = process.env.HOMEBREW_PREFIX || (process.arch === 'arm64' ? '/opt/homebrew' : '/usr/local');
  return [process.env.ORT_INCLUDE_DIR, path.join(root, '.deps/ort/usr/include/onnxruntime'),
    '/usr/include/onnxruntime', '/usr/local/include/onnxruntime', path.join(brew, 'include/onnxruntime')].filter(Boolean);
}

function ortInclude() {
  const candidates = ortIncludeCandidates();
  for (const c of candidates) if (fs.existsSync(path.join(c, 'onnxruntime_cxx_api.h'))) return c;
  throw new Error(`ONNX Runtime headers not found (tried ${candidates.join(', ')}); set ORT_INCLUDE_DIR`);
}

// onnxruntime-node's own library: our addon links to it so one copy serves both bindings.
const ortSubdir = path.join('bin', 'napi-v6', process.platform, process.arch);
const ortLibName = { linux: /^libonnxruntime\.so\.1$/, darwin: /^libonnxruntime\.\d+(\.\d+)*\.dylib$/, win32: /^onnxruntime\.(lib|dll)$/ }[process.platform];

function ortLib() {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [root] }));
  const dir = path.join(pkg, ortSubdir);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  // On Windows link against the import library when the package has one.
  const file = files.filter((f) => ortLibName && ortLibName.test(f)).sort().reverse()[0];
  if (!file) throw new Error(`onnxruntime-node ships no ONNX Runtime library for ${process.platform}-${process.arch} in ${dir}`);
  return path.join(dir, file);
}

// The addon lives two directories below the package root, both as a source build
// (build/Release/) and as a prebuild (prebuilds/<platform>-<arch>/), so one rpath serves both:
// the addon's own directory (libraries shipped beside a prebuild), then onnxruntime-node nested
// under this package or hoisted beside it.
function ortRpath() {
  const origin = process.platform === 'darwin' ? '@loader_path' : '$ORIGIN';
  const rel = path.relative(path.join(root, 'build', 'Release'), path.dirname(ortLib())).split(path.sep).join('/');
  const dirs = [origin, `${origin}/${rel}`, `${origin}/../../node_modules/onnxruntime-node/${ortSubdir.split(path.sep).join('/')}`,
    `${origin}/../../../onnxruntime-node/${ortSubdir.split(path.sep).join('/')}`];
  return [...new Set(dirs)].join(process.platform === 'darwin' ? ';' : ':');
}

module.exports = { ortInclude, ortIncludeCandidates, ortLib, ortRpath };

if (require.main === module) {
  const out = { 'ort-include': ortInclude, 'ort-lib': ortLib, 'ort-rpath': ortRpath }[process.argv[2]];
  if (!out) {
    console.error('usage: native-paths.cjs ort-include | ort-lib | ort-rpath');
    process.exit(2);
  }
  process.stdout.write(out());
}
