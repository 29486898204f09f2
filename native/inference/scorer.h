// Cross-encoder scoring: pairs -> PairEncoder -> micro-batches -> Session::run -> logits per pair.
// Works through the request in windows of pairs so memory stays bounded for any number of documents.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "batching/batch.h"
#include "inference/session.h"

namespace crossrank::infer {

struct ScoreRequest {
  std::vector<std::string> queries;
  std::vector<std::string> docs;
  std::vector<uint32_t> pair_query;  // query index per doc; empty: every doc uses query 0
  batch::PairOptions pair;
  size_t token_budget = 8192;        // rows x padded length per micro-batch
  size_t max_rows = 64;              // 1 for models whose scores depend on batch neighbours (int8)
  size_t window = 1024;              // pairs tokenized and held at once
  uint32_t label = 0;                // which logit picks the best window of a chunked document
  std::string output = "logits";
};

struct ScoreResult {
  size_t labels = 0;
  std::vector<float> logits;          // pairs x labels (NaN rows for failed pairs)
  std::vector<uint32_t> best_chunk, chunks, span_start, span_end;
  std::vector<uint8_t> truncated;
  std::vector<std::string> err_code, err_msg;  // empty code: ok
  size_t truncated_count = 0, batches = 0, rows = 0, real_tokens = 0, padded_tokens = 0;
};

// `cancel` (may be null) is polled between micro-batches; non-zero aborts with ERR_ABORTED.
void score(const tok::Tokenizer& tok, const Session& session, const ScoreRequest& req,
           int32_t* cancel, ScoreResult& out);

// The output that holds the logits: `name` if the model has it, else its only output.
// Throws ERR_MODEL_OUTPUTS naming what was expected and what the model has.
std::string logits_output(const Session& s, const std::string& name);

}  // namespace crossrank::infer
