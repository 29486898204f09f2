// The output of the tokenizer for one input (single text or pair), as in HF's Encoding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace crossrank::tok {

struct Encoding {
  std::vector<int32_t> ids, type_ids;
  std::vector<uint8_t> special;      // 1 for tokens the post-processor added
  std::vector<int8_t> seq;           // which input (0, 1) a token came from; -1 for added ones
  std::vector<uint32_t> start, end;  // offsets in code points of its input
  std::vector<Encoding> overflowing;
  // Token ranges [first, last) of the pre-tokenized words (every split except added tokens), only
  // for a sequence as encode_sequence returned it; read by pair truncation (see seen_length).
  std::vector<std::pair<uint32_t, uint32_t>> words;
  bool truncated = false;            // tokens were dropped (cut off, or never read)

  size_t size() const { return ids.size(); }
  void push(int32_t id, int32_t type, uint8_t sp, int8_t sq, uint32_t a, uint32_t b) {
    ids.push_back(id); type_ids.push_back(type); special.push_back(sp); seq.push_back(sq);
    start.push_back(a); end.push_back(b);
  }
  void append(const Encoding& o);  // tokens only
  // Keep max_len tokens (from the right or left end). With `windows`, the rest go to `overflowing`
  // as windows of max_len that overlap by `stride` (at most max_windows - 1 of them when
  // max_windows > 0); without, they are dropped.
  void truncate(size_t max_len, size_t stride, bool from_left, bool windows = true, size_t max_windows = 0);
  // Concatenate `pair`, combining overflowing parts as HF's Encoding::merge_with does.
  void merge_with(const Encoding& pair);
  Encoding slice(size_t a, size_t b) const;
};

// How many windows truncate(max_len, stride, ...) makes of n tokens (the kept part included).
size_t window_count(size_t n, size_t max_len, size_t stride);

}  // namespace crossrank::tok
