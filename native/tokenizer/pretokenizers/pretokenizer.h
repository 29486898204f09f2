// Pre-tokenizers: split normalized text into the pieces the model tokenizes independently.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "tokenizer/normalized.h"

namespace crossrank::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Split one piece. `at_start` is true when the piece begins at original offset 0.
  virtual void split(const NStr& s, bool at_start, std::vector<NStr>& out) const = 0;
  // Pre-tokenizers that only cut (never change characters) can also report the pieces as char
  // ranges of s, so the model reads them in place; they return true.
  using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
  virtual bool ranges(const NStr& s, bool at_start, Ranges& out) const { return false; }
  // Apply to every piece that is not already an added token.
  void pre_tokenize(std::vector<Piece>& pieces) const;
};

std::unique_ptr<PreTokenizer> make_pretokenizer(const nlohmann::json& j);

// The byte-level alphabet shared with the ByteLevel decoder.
const std::vector<char32_t>& byte_to_char();

}  // namespace crossrank::tok
