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
  void split_one(const NStr& s, bool normalized_set, std::vector<Piece>& out) const;
  std::vector<AddedToken> tokens_;
  // first char -> token indices, longest pattern first; one index per set
  std::unordered_map<char32_t, std::vector<size_t>> first_[2];
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
};

}  // namespace crossrank::tok
