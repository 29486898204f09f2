#!/usr/bin/env bash
# Run the API tests (tokenizer and tokenizer.json validation, reranker, pool, indexes, bi-encoder, collection, hub, server, eval), the tokenizer
# parity suite for one WordPiece file and the hostile-input suite against the ASan/UBSan build of the addon.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:native:asan
export CROSSRANK_ADDON=$PWD/build-asan/Debug/crossrank.node
# Node itself is not instrumented: preload the runtime and ignore leaks V8 keeps on purpose.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
npx vitest run test/tokenizer.test.ts test/tokenizer.files.test.ts test/cross-encoder.test.ts test/pool.test.ts test/index.test.ts test/bi-encoder.test.ts test/collection.test.ts test/hub.test.ts test/server.test.ts test/eval.test.ts "$@"
# The tokenizer's hot path (words read in place, pair truncation) on real text: one WordPiece file.
npx vitest run test/tokenizer.parity.test.ts -t "bert-cased" "$@"
# Hostile input: every case in its own child process, which inherits the ASan build and runtime;
# a sanitizer report ends the child with an error status, so the case fails as a crash.
HOSTILE_TIME_SCALE=4 npx vitest run test/hostile.test.ts "$@"
