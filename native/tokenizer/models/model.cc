#include "tokenizer/models/model.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/json_fields.h"

namespace crossrank::tok {

void Vocab::add(const std::string& s, int32_t id) {
  const auto at = static_cast<size_t>(id);
  // Dense while the ids stay within a small multiple of the count (a hostile id of 2^31 must not
  // allocate 2^31 strings).
  if (at < dense_.size() || at <= 2 * ids.size() + 4096) {
    if (dense_.size() <= at) {
      dense_.resize(at + 1);
      used_.resize(at + 1, 0);
    }
    dense_[at] = s;
    used_[at] = 1;
  } else {
    sparse_[id] = s;
  }
  ids[s] = id;
  index.insert(s, id);
}

const std::string* Vocab::token(int32_t id) const {
  if (id < 0) return nullptr;
  const auto at = static_cast<size_t>(id);
  if (at < dense_.size() && used_[at]) return &dense_[at];
  auto it = sparse_.find(id);
  return it == sparse_.end() ? nullptr : &it->second;
}

void read_vocab_map(const nlohmann::json& model, Vocab& v) {
  const auto& vocab = jf::need(model, "vocab", "model.vocab");
  if (!vocab.is_object()) jf::fail("model.vocab", "an object of token: id", vocab);
  for (auto& [k, id] : vocab.items()) v.add(k, jf::id(id, "model.vocab[\"" + k + "\"]"));
}

Utf8Piece::Utf8Piece(const NStr& s) {
  bool ascii = true;
  for (char32_t c : s.c) ascii &= c < 0x80;
  if (ascii) {  // common case: one byte per char, the byte -> char map is the identity
    text.assign(s.c.begin(), s.c.end());
    char_at.resize(s.size() + 1);
    for (size_t i = 0; i <= s.size(); ++i) char_at[i] = static_cast<uint32_t>(i);
    return;
  }
  text.reserve(s.size());
  char_at.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    unicode::append_utf8(text, s.c[i]);
    char_at.resize(text.size(), static_cast<uint32_t>(i));
  }
  char_at.push_back(static_cast<uint32_t>(s.size()));
}

std::unique_ptr<Model> make_model(const nlohmann::json& j) {
  if (!j.is_object()) jf::fail("model", "an object", j);
  if (const auto* t = jf::find(j, "type")) {
    const std::string type = jf::str(*t, "model.type");
    if (type == "WordPiece") return make_wordpiece(j);
    if (type == "BPE") return make_bpe(j);
    if (type == "Unigram") return make_unigram(j);
    if (type == "WordLevel") return make_wordlevel(j);
    throw Error("ERR_TOKENIZER_UNSUPPORTED", "model.type \"" + type + "\" is not a known model (BPE, WordPiece, WordLevel, Unigram)");
  }
  // Older files omit "type": the first model that accepts the fields, as Hugging Face decides.
  std::string why;
  for (auto make : {make_bpe, make_wordpiece, make_wordlevel, make_unigram}) {
    try {
      return make(j);
    } catch (const Error& e) {
      why += std::string(why.empty() ? "" : "; ") + e.what();
    }
  }
  throw Error("ERR_TOKENIZER_CONFIG", "model has no \"type\" and its fields fit no known model (" + why + ")");
}

}  // namespace crossrank::tok
