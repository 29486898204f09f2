#!/usr/bin/env bash
# The main job: a two-stage search over the real ArguAna collection (BEIR) from ../shared.
#   1. index: BM25 (Lucene-style) + a dense FAISS index of bi-encoder embeddings, in .cache/
#   2. search: hybrid first stage (reciprocal-rank fusion), cross-encoder rerank, with movements
#   3. evaluate: nDCG@10 of BM25 against the qrels, and after reranking
# The shared models have the real BERT architecture and tokenizer but random weights, so reranked
# relevance is near zero by design; BM25's nDCG is the real relevance figure.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${CROSSRANK_SHARED:-../shared}"
beir="$shared/fixtures/ir/beir-arguana"
col=.cache/arguana
node dist/cli.js index "$beir" "$col" --embedder "$shared/models/bert-tiny-bi"
node dist/cli.js search "$col" "${1:-animal testing should be banned because it is cruel}" \
  --rerank "$shared/models/bert-tiny-cross" --candidates 100 --top-k 10
node dist/cli.js evaluate "$beir" "$col" --first bm25 --rerank "$shared/models/bert-tiny-cross" --candidates 100 --queries "${QUERIES:-200}"
