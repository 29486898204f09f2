// Pair batching: (query, document) pairs -> token sequences -> length-sorted, padded micro-batches.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace crossrank::batch {

// A padded batch in row-major [rows, cols] order, ready for the model.
struct BatchTensors {
  size_t rows = 0, cols = 0;
  std::vector<int64_t> ids, mask, types;
  size_t real_tokens = 0;  // tokens that are not padding
};

// One model input row: a whole pair, or one window of a long document.
struct Sequence {
  std::vector<int32_t> ids, types;
  uint32_t item = 0;         // index of the pair in the request
  uint32_t chunk = 0;        // window number within the pair (0 without chunking)
  uint32_t span_start = 0;   // the document's UTF-16 range that this row holds
  uint32_t span_end = 0;
};

struct PairOptions {
  tok::EncodeOptions enc;   // truncation of each pair (enc.truncate, max_length, strategy)
  bool chunk = false;       // long documents become windows of enc.max_length overlapping by enc.stride
  size_t max_chunks = 0;    // 0: every window
};

// Encodes pairs, tokenizing each distinct query once.
class PairEncoder {
 public:
  PairEncoder(const tok::Tokenizer& tok, const std::vector<std::string>& queries, const PairOptions& opts);
  // Appends the row(s) of one pair; returns true when part of the document was dropped (cut to fit,
  // or windows past max_chunks). Throws crossrank::Error for this pair alone (e.g. ERR_TRUNCATION).
  bool encode(std::string_view doc, uint32_t query, uint32_t item, std::vector<Sequence>& out) const;

 private:
  const tok::Tokenizer& tok_;
  std::vector<tok::Encoding> queries_;
  PairOptions opts_;
  size_t added_;
};

struct Range {
  size_t begin, end;
};

// Sorts `seqs` longest first (ties by item, then chunk: deterministic) and cuts them into
// micro-batches of at most max_rows rows and at most token_budget tokens once padded.
std::vector<Range> plan(std::vector<Sequence>& seqs, size_t token_budget, size_t max_rows);

// Pads seqs[r.begin, r.end) to the longest member.
void fill(const std::vector<Sequence>& seqs, Range r, int32_t pad_id, BatchTensors& out);

}  // namespace crossrank::batch
