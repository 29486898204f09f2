// Models: turn one pre-tokenized piece into vocabulary ids (WordPiece, BPE, Unigram).
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/models/str_index.h"
#include "tokenizer/normalized.h"

namespace crossrank::tok {

struct StrHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StrMap = std::unordered_map<std::string, int32_t, StrHash, std::equal_to<>>;

// Token strings by id, and ids by string (`ids` to iterate, `index` for the hot lookups). Ids may
// have holes, as Hugging Face allows: dense ids live in a vector, far outliers in a map.
struct Vocab {
  StrMap ids;
  StrIndex index;
  int32_t find(std::string_view s) const { return index.find(s); }
  void add(const std::string& s, int32_t id);
  // The token of an id, or nullptr for an id no token has.
  const std::string* token(int32_t id) const;
  size_t size() const { return ids.size(); }

 private:
  std::vector<std::string> dense_;
  std::vector<uint8_t> used_;
  std::unordered_map<int32_t, std::string> sparse_;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual void tokenize(const NStr& piece, std::vector<Token>& out) const = 0;
  // Tokenize chars [a, b) of s as one piece. Models that can read the range in place override
  // this; the default copies it out.
  virtual void tokenize_range(const NStr& s, size_t a, size_t b, std::vector<Token>& out) const {
    tokenize(s.slice(a, b), out);
  }
  // Every range of s as its own word (a pre-token). Records each word's token range in `words`
  // when given; stops after the first word whose tokens reach `stop_at` in `out` (0: never), as
  // Hugging Face stops reading a sequence under truncation. Returns how many ranges were read.
  using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
  using Words = std::vector<std::pair<uint32_t, uint32_t>>;
  virtual size_t tokenize_ranges(const NStr& s, const Ranges& ranges, std::vector<Token>& out, Words* words,
                                 size_t stop_at) const {
    return read_words(ranges, out, words, stop_at, [&](size_t a, size_t b) { tokenize_range(s, a, b, out); });
  }
  const Vocab& vocab() const { return vocab_; }
  // Token count as Hugging Face's get_vocab_size (Unigram counts its list, duplicates included).
  virtual size_t size() const { return vocab_.size(); }

 protected:
  // The loop of tokenize_ranges around `one(a, b)`, which appends the tokens of chars [a, b).
  template <typename F>
  static size_t read_words(const Ranges& ranges, std::vector<Token>& out, Words* words, size_t stop_at, F&& one) {
    for (size_t i = 0; i < ranges.size(); ++i) {
      const auto first = static_cast<uint32_t>(out.size());
      one(ranges[i].first, ranges[i].second);
      if (words) words->emplace_back(first, static_cast<uint32_t>(out.size()));
      if (stop_at && out.size() >= stop_at) return i + 1;
    }
    return ranges.size();
  }

  Vocab vocab_;
};

// "model" of tokenizer.json. Old files without "type" get the first model whose fields they hold,
// tried in Hugging Face's order (BPE, WordPiece, WordLevel, Unigram).
std::unique_ptr<Model> make_model(const nlohmann::json& j);
std::unique_ptr<Model> make_wordpiece(const nlohmann::json& j);
std::unique_ptr<Model> make_wordlevel(const nlohmann::json& j);
std::unique_ptr<Model> make_bpe(const nlohmann::json& j);
std::unique_ptr<Model> make_unigram(const nlohmann::json& j);
// A {token: id} object, as BPE, WordPiece and WordLevel store their vocabulary.
void read_vocab_map(const nlohmann::json& model, Vocab& v);

// UTF-8 of a piece plus the char index of every byte (and of the end), for byte-ranged models.
struct Utf8Piece {
  std::string text;
  std::vector<uint32_t> char_at;
  explicit Utf8Piece(const NStr& s);
  Token token(const NStr& s, int32_t id, size_t byte_a, size_t byte_b) const {
    size_t a = char_at[byte_a], b = char_at[byte_b];
    return Token{id, s.orig_start(a), b > a ? s.o1[b - 1] : s.orig_start(a)};
  }
};

}  // namespace crossrank::tok
