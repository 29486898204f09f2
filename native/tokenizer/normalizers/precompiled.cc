// SentencePiece's precompiled charsmap (T5, XLM-R, bge-reranker...): a Darts double-array trie
// over UTF-8 byte strings whose values index a pool of NUL-terminated replacement strings.
// Matching follows Hugging Face's spm_precompiled: whole grapheme clusters under 6 bytes first,
// then one character at a time, and the shortest matching rule wins.
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/normalizers/normalizer.h"

namespace crossrank::tok {
namespace {

namespace u = crossrank::unicode;

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int8_t table[256];
  std::memset(table, -1, sizeof table);
  for (size_t i = 0; i < chars.size(); ++i) table[static_cast<unsigned char>(chars[i])] = static_cast<int8_t>(i);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char ch : in) {
    if (ch == '=') break;
    int8_t v = table[ch];
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

class Precompiled : public Normalizer {
 public:
  explicit Precompiled(const nlohmann::json& j) {
    const auto& m = j.at("precompiled_charsmap");
    if (m.is_null()) return;
    std::string blob = base64_decode(m.get<std::string>());
    if (blob.size() < 4) throw Error("ERR_TOKENIZER_CONFIG", "Precompiled: precompiled_charsmap is too short");
    uint32_t trie_bytes;
    std::memcpy(&trie_bytes, blob.data(), 4);
    if (trie_bytes % 4 != 0 || 4ull + trie_bytes > blob.size())
      throw Error("ERR_TOKENIZER_CONFIG", "Precompiled: precompiled_charsmap has a bad trie size");
    units_.resize(trie_bytes / 4);
    std::memcpy(units_.data(), blob.data() + 4, trie_bytes);
    pool_ = blob.substr(4 + trie_bytes);
  }

  void normalize(NStr& s) const override {
    if (units_.empty() || s.empty()) return;
    NStr r;
    r.reserve(s.size());
    std::vector<size_t> bounds;
    u::grapheme_bounds(s.c.data(), s.size(), bounds);
    std::string key;
    std::vector<char32_t> rep;
    for (size_t g = 0; g + 1 < bounds.size(); ++g) {
      size_t a = bounds[g], b = bounds[g + 1];
      key.clear();
      for (size_t k = a; k < b; ++k) u::append_utf8(key, s.c[k]);
      if (key.size() < 6 && transform(key, rep)) {
        emit(r, rep, s, a, b);
        continue;
      }
      for (size_t k = a; k < b; ++k) {
        key.clear();
        u::append_utf8(key, s.c[k]);
        if (transform(key, rep)) emit(r, rep, s, k, k + 1);
        else r.push(s.c[k], s.o0[k], s.o1[k]);
      }
    }
    s = std::move(r);
  }

 private:
  static void emit(NStr& r, const std::vector<char32_t>& rep, const NStr& s, size_t a, size_t b) {
    if (rep.size() == b - a) {
      for (size_t k = 0; k < rep.size(); ++k) r.push(rep[k], s.o0[a + k], s.o1[a + k]);
    } else {
      for (char32_t c : rep) r.push(c, s.o0[a], s.o1[b - 1]);
    }
  }

  // Darts unit layout.
  static bool has_leaf(uint32_t u) { return (u >> 8) & 1; }
  static uint32_t value(uint32_t u) { return u & 0x7FFFFFFFu; }
  static uint32_t label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
  static uint32_t offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

  bool transform(const std::string& key, std::vector<char32_t>& rep) const {
    size_t pos = offset(units_[0]);
    for (unsigned char c : key) {
      if (c == 0) break;
      pos ^= c;
      if (pos >= units_.size()) return false;
      uint32_t unit = units_[pos];
      if (label(unit) != c) return false;
      pos ^= offset(unit);
      if (pos >= units_.size()) return false;
      if (has_leaf(unit)) {
        size_t start = value(units_[pos]);
        if (start > pool_.size()) return false;
        size_t end = pool_.find('\0', start);
        if (end == std::string::npos) end = pool_.size();
        u::decode_utf8(std::string_view(pool_).substr(start, end - start), rep);
        return true;
      }
    }
    return false;
  }

  std::vector<uint32_t> units_;
  std::string pool_;
};

}  // namespace

std::unique_ptr<Normalizer> make_precompiled(const nlohmann::json& j) { return std::make_unique<Precompiled>(j); }

}  // namespace crossrank::tok
