// WordLevel: each pre-token is one vocabulary entry, or the unk token.
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/models/model.h"

namespace crossrank::tok {
namespace {

class WordLevel : public Model {
 public:
  explicit WordLevel(const nlohmann::json& j) {
    jf::check_type(j, "WordLevel", "model");
    unk_name_ = jf::str(jf::need(j, "unk_token", "model.unk_token"), "model.unk_token");
    jf::need(j, "vocab", "model.vocab");
    read_vocab_map(j, vocab_);
    unk_ = vocab_.find(unk_name_);
  }

  void tokenize(const NStr& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    const Token t{vocab_.find(piece.utf8()), piece.o0.front(), piece.o1.back()};
    if (t.id >= 0) {
      out.push_back(t);
      return;
    }
    if (unk_ < 0)
      throw Error("ERR_TOKENIZER_UNK", "a word is not in the WordLevel vocabulary and the unk_token \"" + unk_name_ + "\" is not either");
    out.push_back(Token{unk_, t.start, t.end});
  }

 private:
  std::string unk_name_;
  int32_t unk_;
};

}  // namespace

std::unique_ptr<Model> make_wordlevel(const nlohmann::json& j) { return std::make_unique<WordLevel>(j); }

}  // namespace crossrank::tok
