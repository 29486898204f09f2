#include "tokenizer/models/model.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unicode.h"

namespace crossrank::tok {

void Vocab::add(const std::string& s, int32_t id) {
  if (id < 0) throw Error("ERR_TOKENIZER_CONFIG", "negative token id for \"" + s + "\"");
  if (tokens.size() <= static_cast<size_t>(id)) tokens.resize(static_cast<size_t>(id) + 1);
  tokens[static_cast<size_t>(id)] = s;
  ids[s] = id;
  index.insert(s, id);
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
  std::string type = j.value("type", std::string());
  if (type.empty()) {
    // Older files omit "type": infer it from the fields only one model has.
    if (j.contains("merges")) type = "BPE";
    else if (j.contains("vocab") && j["vocab"].is_array()) type = "Unigram";
    else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) type = "WordPiece";
    else if (j.contains("vocab") && j["vocab"].is_object()) type = "WordLevel";
  }
  if (type == "WordPiece") return make_wordpiece(j);
  if (type == "BPE") return make_bpe(j);
  if (type == "Unigram") return make_unigram(j);
  throw Error("ERR_TOKENIZER_UNSUPPORTED", "unsupported model type \"" + type + "\"");
}

}  // namespace crossrank::tok
