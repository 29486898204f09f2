// WordPiece: greedy longest-match-first; a word with any unmatched remainder becomes [UNK].
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/models/model.h"

namespace crossrank::tok {
namespace {

class WordPiece : public Model {
 public:
  explicit WordPiece(const nlohmann::json& j) {
    for (auto& [k, v] : j.at("vocab").items()) vocab_.add(k, v.get<int32_t>());
    prefix_ = j.value("continuing_subword_prefix", std::string("##"));
    max_chars_ = j.value("max_input_chars_per_word", 100);
    const std::string unk = j.value("unk_token", std::string("[UNK]"));
    unk_ = vocab_.find(unk);
    if (unk_ < 0) throw Error("ERR_TOKENIZER_CONFIG", "WordPiece unk_token \"" + unk + "\" is not in the vocabulary");
    // Continuation pieces indexed without their prefix, so lookups need no string building.
    for (auto& [tok, id] : vocab_.ids)
      if (tok.size() > prefix_.size() && tok.compare(0, prefix_.size(), prefix_) == 0) cont_[tok.substr(prefix_.size())] = id;
  }

  void tokenize(const NStr& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    if (piece.size() > static_cast<size_t>(max_chars_)) {
      out.push_back(Token{unk_, piece.orig_start(0), piece.o1.back()});
      return;
    }
    Utf8Piece w(piece);
    const std::string& t = w.text;
    const size_t mark = out.size();
    size_t start = 0;
    while (start < t.size()) {
      size_t end = t.size();
      int32_t found = -1;
      while (start < end) {
        std::string_view sub(t.data() + start, end - start);
        int32_t id;
        if (start == 0) id = vocab_.find(sub);
        else { auto it = cont_.find(sub); id = it == cont_.end() ? -1 : it->second; }
        if (id >= 0) { found = id; break; }
        do { --end; } while (end > start && (static_cast<unsigned char>(t[end]) & 0xC0) == 0x80);
      }
      if (found < 0) {
        out.resize(mark);
        out.push_back(Token{unk_, piece.orig_start(0), piece.o1.back()});
        return;
      }
      out.push_back(w.token(piece, found, start, end));
      start = end;
    }
  }

 private:
  std::string prefix_;
  int max_chars_;
  int32_t unk_;
  StrMap cont_;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const nlohmann::json& j) { return std::make_unique<WordPiece>(j); }

}  // namespace crossrank::tok
