// Bi-encoder embeddings: texts -> length-sorted micro-batches -> Session::run -> pooled vectors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "batching/batch.h"
#include "inference/session.h"

namespace crossrank::infer {

enum class Pooling { Mean, Cls, Max, None };  // None: the model's output is already one vector per text

struct EmbedRequest {
  std::vector<std::string> texts;
  tok::EncodeOptions enc;
  size_t token_budget = 8192;
  size_t max_rows = 64;
  size_t window = 1024;
  Pooling pooling = Pooling::Mean;
  bool normalize = true;
  std::string output;  // empty: sentence_embedding if present, else last_hidden_state / token_embeddings / the only output
};

struct EmbedResult {
  size_t dim = 0;
  std::vector<float> vectors;  // texts x dim (NaN rows for failed texts)
  std::vector<uint8_t> truncated;
  std::vector<std::string> err_code, err_msg;
};

void embed(const tok::Tokenizer& tok, const Session& session, const EmbedRequest& req, int32_t* cancel, EmbedResult& out);

}  // namespace crossrank::infer
