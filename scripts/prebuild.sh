#!/usr/bin/env bash
# Builds the linux-x64 (glibc) prebuild that `npm pack` ships:
#   prebuilds/linux-x64/crossrank.napi.glibc.node   (node-gyp-build's layout; Node-API 8: one
#                                                   binary for every Node >= 22)
#   prebuilds/linux-x64/lib*.so.*                   every third-party shared library it needs, copied
#                                                   beside it with RUNPATH $ORIGIN (as auditwheel does)
# Only glibc, libstdc++/libgcc_s and onnxruntime-node's libonnxruntime.so.1 stay outside
# (scripts/prebuild-check.sh enforces that). FAISS is linked statically by CMakeLists.txt.
# Usage: scripts/prebuild.sh [--no-build] [--out DIR]   (needs patchelf and binutils)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
out=prebuilds/linux-x64
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) build=0 ;;
    --out) out=$2; shift ;;
    *) echo "usage: scripts/prebuild.sh [--no-build] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "prebuild.sh: builds the linux-x64 prebuild only (this is $(uname -s)-$(uname -m))" >&2
  exit 1
fi
command -v patchelf >/dev/null || { echo "prebuild.sh: needs patchelf (apt-get install patchelf)" >&2; exit 1; }

if [ $build = 1 ]; then npm run build:native; fi
src=build/Release/crossrank.node
[ -f "$src" ] || { echo "prebuild.sh: $src is missing; run npm run build:native" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
addon=$out/crossrank.napi.glibc.node
cp "$src" "$addon"
strip --strip-unneeded "$addon"

# ldd lists the whole closure; copy what is not allowed from outside, resolved through symlinks.
allowed=$(node -p "require('./scripts/prebuild-allow.json').system.join('|')")
ldd "$addon" | awk '$2 == "=>" { print $1, $3 }' | while read -r name path; do
  if [[ $name =~ ^($allowed)$ ]]; then continue; fi
  if [ "$path" = "not" ]; then echo "prebuild.sh: $name not found on this machine" >&2; exit 1; fi
  cp -L "$path" "$out/$name"
  chmod 0644 "$out/$name"
  patchelf --set-rpath '$ORIGIN' "$out/$name"
done

bash scripts/prebuild-check.sh "$out"
