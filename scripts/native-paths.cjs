// Where the native build finds ONNX Runtime: read by both CMakeLists.txt and binding.gyp so the
// two builds cannot disagree. Usage: node scripts/native-paths.cjs ort-include | ort-lib | ort-rpath | ort-rpath-gyp
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');

function ortInclude() {
  const candidates = [process.env.ORT_INCLUDE_DIR, path.join(root, '.deps/ort/usr/include/onnxruntime'),
    '/usr/include/onnxruntime', '/usr/local/include/onnxruntime'].filter(Boolean);
  for (const c of candidates) if (fs.existsSync(path.join(c, 'onnxruntime_cxx_api.h'))) return c;
  throw new Error(`ONNX Runtime headers not found (tried ${candidates.join(', ')}); run scripts/setup.sh or set ORT_INCLUDE_DIR`);
}

// onnxruntime-node's own library: our addon links to it so one copy serves both bindings.
function ortLibDir() {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [root] }));
  const dir = path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  if (!fs.existsSync(path.join(dir, 'libonnxruntime.so.1'))) throw new Error(`libonnxruntime.so.1 not found in ${dir}`);
  return dir;
}

// Relative to build/Release/crossrank.node, for this checkout and for an installed package.
function ortRpath() {
  const rel = path.relative(path.join(root, 'build', 'Release'), ortLibDir());
  return [`$ORIGIN/${rel}`, '$ORIGIN/../../../onnxruntime-node/bin/napi-v6/linux/x64'].join(':');
}

const what = process.argv[2];
// gyp's make generator wants a literal $ written as $$.
const ortRpathGyp = () => ortRpath().replaceAll('$', '$$$$');
const out = { 'ort-include': ortInclude, 'ort-lib': ortLibDir, 'ort-rpath': ortRpath, 'ort-rpath-gyp': ortRpathGyp }[what];
if (!out) {
  console.error('usage: native-paths.cjs ort-include | ort-lib | ort-rpath | ort-rpath-gyp');
  process.exit(2);
}
process.stdout.write(out());
