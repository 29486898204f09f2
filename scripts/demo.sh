#!/usr/bin/env bash
# The demo: a two-stage search over the real ArguAna collection (BEIR, 8,674 arguments) from ../shared.
#   1. index: BM25 (Lucene-style) + a dense FAISS index of bi-encoder embeddings, in .cache/arguana
#   2. search: one query, hybrid first stage (BM25 and dense fused by reciprocal rank), then the
#      cross-encoder rerank, showing how far each hit moved
#   3. evaluate: BM25 alone on all 1,406 judged queries (the README's figure), then BM25 + rerank
#      on the first $QUERIES judged queries (default 200: reranking 100 candidates each takes a while)
# The shared models have the real BERT architecture and tokenizer but random weights, so reranked
# (and dense) relevance is near zero by design; BM25's nDCG is the real relevance figure.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${CROSSRANK_SHARED:-../shared}"
beir="$shared/fixtures/ir/beir-arguana"
col=.cache/arguana
queries="${QUERIES:-200}"
query="${1:-animal testing should be banned because it is cruel}"
step() { printf '\n== %s\n' "$*"; }

step "1. index ArguAna's corpus into $col (BM25 + dense, bi-encoder bert-tiny-bi)"
node dist/cli.js index "$beir" "$col" --embedder "$shared/models/bert-tiny-bi"

step "2. search: hybrid first stage (BM25 + dense, reciprocal-rank fusion), 100 candidates, reranked by bert-tiny-cross"
node dist/cli.js search "$col" "$query" --first hybrid \
  --rerank "$shared/models/bert-tiny-cross" --candidates 100 --top-k 10

step "3a. evaluate: BM25 first stage on all judged queries"
node dist/cli.js evaluate "$beir" "$col" --first bm25 --candidates 100

step "3b. evaluate: BM25 first stage + rerank of 100 candidates, on the first $queries judged queries (QUERIES=n to change)"
node dist/cli.js evaluate "$beir" "$col" --first bm25 --rerank "$shared/models/bert-tiny-cross" --candidates 100 --queries "$queries"
echo "(3a and 3b differ in their BM25 row because they average over different queries.)"
