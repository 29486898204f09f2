#!/usr/bin/env bash
# One-shot set-up on a fresh Debian 12 machine: system packages, ONNX Runtime headers,
# npm dependencies and the native build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export ONNXRUNTIME_NODE_INSTALL=skip   # onnxruntime-node's CUDA download cannot reach its host
export ORT_DISABLE_TELEMETRY=1

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# FAISS: the native build compiles FAISS 1.15.0 from its release source (CMakeLists.txt:
# FetchContent, SHA-256 pinned; from $CROSSRANK_SHARED/vendor when that holds the tarball, else
# from GitHub) with OpenBLAS and OpenMP. libfaiss-dev is Debian's 1.7.3: the
# CROSSRANK_FAISS_SYSTEM=ON fallback and bench/search's baseline.
pkgs="patchelf libfaiss-dev libopenblas0-pthread libutf8proc-dev libonig-dev nlohmann-json3-dev libstemmer-dev cmake g++ ccache python3-onnx python3-numpy nginx"
# clang with libFuzzer and the sanitizer runtimes, and LLVM's omp.h: the fuzz targets (scripts/fuzz.sh).
pkgs="$pkgs clang-14 libclang-rt-14-dev libomp-14-dev"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# ONNX Runtime C/C++ headers. ORT_INCLUDE_DIR wins when set (brew / distro packages elsewhere);
# on bookworm we extract (never install) trixie's libonnxruntime-dev into .deps/.
if [ -z "${ORT_INCLUDE_DIR:-}" ] && [ ! -f .deps/ort/usr/include/onnxruntime/onnxruntime_cxx_api.h ]; then
  echo "setup: fetching ONNX Runtime headers (Debian trixie libonnxruntime-dev, extracted only)"
  d=$PWD/.deps/apt
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc"
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$d/etc/trixie.sources"
  o="-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts=$d/etc -oDir::State::Lists=$d/lists -oDir::Cache=$d/cache"
  $SUDO apt-get $o update -qq
  (cd "$d" && $SUDO apt-get $o download libonnxruntime-dev)
  dpkg -x "$d"/libonnxruntime-dev_*.deb .deps/ort
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
# ccache keys objects by paths relative to this base, so a clean clone elsewhere under it reuses them.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
if [ ! -f build/_deps/faiss-build/faiss/libfaiss.a ]; then
  echo "setup: the native build compiles FAISS 1.15 (about 25 min on 2 cores the first time; a minute with ccache warm)"
fi
npm run build
