// Added tokens (special or not) are matched as whole strings before the rest of the pipeline
// runs: those with normalized=false on the raw text, the others on each normalized piece.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/normalized.h"

namespace crossrank::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id;
  bool special, single_word, lstrip, rstrip, normalized;
  std::vector<char32_t> pattern;  // what is matched (normalized content for normalized tokens)
};

class AddedVocab {
 public:
  void add(AddedToken t);
  void build(const Normalizer* normalizer);  // after all add() calls
  // Split every non-token piece on the raw (normalized == false) or the normalized tokens.
  void split(std::vector<Piece>& pieces, bool normalized_set) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* by_id(int32_t id) const;
  int32_t find(const std::string& content) const;
  bool empty() const { return tokens_.empty(); }

 private:
  void split_one(NStr& s, bool normalized_set, std::vector<Piece>& out) const;
  bool may_start(char32_t c, int set) const {
    return c < 128 ? (ascii_first_[set][c >> 6] >> (c & 63)) & 1 : (wide_first_[set] && first_[set].count(c));
  }
  std::vector<AddedToken> tokens_;
  // first char -> token indices, longest pattern first; one index per set
  std::unordered_map<char32_t, std::vector<size_t>> first_[2];
  uint64_t ascii_first_[2][2] = {{0, 0}, {0, 0}};  // bitmap of the ASCII first chars, per set
  bool wide_first_[2] = {false, false};           // any first char outside ASCII, per set
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
};

}  // namespace crossrank::tok
