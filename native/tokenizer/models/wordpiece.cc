// WordPiece: greedy longest-match-first; a word with any unmatched remainder becomes [UNK].
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/models/model.h"

namespace crossrank::tok {
namespace {

class WordPiece : public Model {
 public:
  explicit WordPiece(const nlohmann::json& j) {
    // Hugging Face requires all four fields (its files always hold them).
    jf::check_type(j, "WordPiece", "model");
    const std::string unk = jf::str(jf::need(j, "unk_token", "model.unk_token"), "model.unk_token");
    prefix_ = jf::str(jf::need(j, "continuing_subword_prefix", "model.continuing_subword_prefix"), "model.continuing_subword_prefix");
    max_chars_ = static_cast<size_t>(jf::uint(jf::need(j, "max_input_chars_per_word", "model.max_input_chars_per_word"),
                                              "model.max_input_chars_per_word", std::numeric_limits<uint64_t>::max()));
    jf::need(j, "vocab", "model.vocab");
    read_vocab_map(j, vocab_);
    // An unk_token missing from the vocabulary fails only the texts that need it, as in HF.
    unk_ = vocab_.find(unk);
    unk_name_ = unk;
    // Continuation pieces indexed without their prefix, so lookups need no string building. No
    // match can be longer than the longest entry, so the search starts there.
    for (auto& [tok, id] : vocab_.ids) {
      if (tok.size() > prefix_.size() && tok.compare(0, prefix_.size(), prefix_) == 0) {
        cont_.insert(std::string_view(tok).substr(prefix_.size()), id);
        max_cont_ = std::max(max_cont_, tok.size() - prefix_.size());
      }
      max_first_ = std::max(max_first_, tok.size());
    }
  }

  void tokenize(const NStr& piece, std::vector<Token>& out) const override { tokenize_range(piece, 0, piece.size(), out); }

  void tokenize_range(const NStr& s, size_t a, size_t b, std::vector<Token>& out) const override {
    word(s, a, b, scratch(), out);
  }

  size_t tokenize_ranges(const NStr& s, const Ranges& ranges, std::vector<Token>& out, Words* words,
                         size_t stop_at) const override {
    Scratch& sc = scratch();  // one thread-local lookup per text, not per word
    return read_words(ranges, out, words, stop_at, [&](size_t a, size_t b) { word(s, a, b, sc, out); });
  }

 private:
  // The word as UTF-8 in a reused buffer; `at` maps a byte to its char (only built for non-ASCII).
  struct Scratch {
    std::string t;
    std::vector<uint32_t> at;
  };
  static Scratch& scratch() {
    thread_local Scratch sc;
    return sc;
  }

  void word(const NStr& s, size_t a, size_t b, Scratch& sc, std::vector<Token>& out) const {
    if (a >= b) return;
    const Token unk{unk_, s.o0[a], s.o1[b - 1]};
    if (b - a > max_chars_) {
      push_unk(unk, out);
      return;
    }
    std::string& t = sc.t;
    std::vector<uint32_t>& at = sc.at;
    t.clear();
    bool ascii = true;
    for (size_t i = a; i < b; ++i) ascii &= s.c[i] < 0x80;
    if (ascii) {
      t.resize(b - a);
      for (size_t i = a; i < b; ++i) t[i - a] = static_cast<char>(s.c[i]);
    } else {
      at.clear();
      for (size_t i = a; i < b; ++i) {
        unicode::append_utf8(t, s.c[i]);
        at.resize(t.size(), static_cast<uint32_t>(i - a));
      }
      at.push_back(static_cast<uint32_t>(b - a));
    }
    auto char_of = [&](size_t byte) { return a + (ascii ? byte : at[byte]); };
    const size_t mark = out.size();
    size_t start = 0;
    while (start < t.size()) {
      size_t end = std::min(t.size(), start + (start == 0 ? max_first_ : max_cont_));
      while (end < t.size() && end > start && (static_cast<unsigned char>(t[end]) & 0xC0) == 0x80) --end;
      int32_t found = -1;
      while (start < end) {
        std::string_view sub(t.data() + start, end - start);
        int32_t id = start == 0 ? vocab_.find(sub) : cont_.find(sub);
        if (id >= 0) { found = id; break; }
        do { --end; } while (end > start && (static_cast<unsigned char>(t[end]) & 0xC0) == 0x80);
      }
      if (found < 0) {
        out.resize(mark);
        push_unk(unk, out);
        return;
      }
      out.push_back(Token{found, s.o0[char_of(start)], s.o1[char_of(end) - 1]});
      start = end;
    }
  }

  void push_unk(const Token& unk, std::vector<Token>& out) const {
    if (unk_ < 0)
      throw Error("ERR_TOKENIZER_UNK", "a word has no WordPiece tokens and the unk_token \"" + unk_name_ + "\" is not in the vocabulary");
    out.push_back(unk);
  }

  std::string prefix_, unk_name_;
  size_t max_chars_;
  int32_t unk_;
  StrIndex cont_;
  size_t max_first_ = 0, max_cont_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const nlohmann::json& j) { return std::make_unique<WordPiece>(j); }

}  // namespace crossrank::tok
