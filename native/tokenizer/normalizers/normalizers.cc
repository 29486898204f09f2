#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/regex.h"
#include "common/unicode.h"
#include "tokenizer/normalizers/normalizer.h"

namespace crossrank::tok {
namespace {

using nlohmann::json;
namespace u = crossrank::unicode;

// Rebuild s through a per-character mapping; `f(c, out)` appends the replacement chars.
template <typename F>
void map_chars(NStr& s, F f) {
  NStr r;
  r.reserve(s.size());
  std::vector<char32_t> buf;
  for (size_t i = 0; i < s.size(); ++i) {
    buf.clear();
    f(s.c[i], buf);
    for (char32_t c : buf) r.push(c, s.o0[i], s.o1[i]);
  }
  s = std::move(r);
}

void unicode_normalize(NStr& s, u::NormForm form) {
  bool ascii = true;
  for (char32_t c : s.c) if (c >= 0x80) { ascii = false; break; }
  if (ascii) return;
  NStr r;
  r.reserve(s.size());
  std::vector<char32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i + 1;
    while (j < s.size() && !u::has_boundary_before(form, s.c[j])) ++j;
    if (u::normalize_segment(form, s.c.data() + i, j - i, out)) {
      // The segment's chars all map to the segment's original range.
      uint32_t a = s.o0[i], b = s.o1[j - 1];
      if (out.size() == j - i) {
        for (size_t k = 0; k < out.size(); ++k) r.push(out[k], s.o0[i + k], s.o1[i + k]);
      } else {
        for (char32_t c : out) r.push(c, a, b);
      }
    } else {
      for (size_t k = i; k < j; ++k) r.push(s.c[k], s.o0[k], s.o1[k]);
    }
    i = j;
  }
  s = std::move(r);
}

void strip_accents(NStr& s) {
  NStr r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i)
    if (!u::is_nonspacing_mark(s.c[i])) r.push(s.c[i], s.o0[i], s.o1[i]);
  s = std::move(r);
}

void lowercase(NStr& s) {
  map_chars(s, [](char32_t c, std::vector<char32_t>& out) { u::to_lower(c, out); });
}

class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const json& j) {
    clean_text_ = j.value("clean_text", true);
    chinese_ = j.value("handle_chinese_chars", true);
    lowercase_ = j.value("lowercase", true);
    auto sa = j.find("strip_accents");
    strip_accents_ = (sa == j.end() || sa->is_null()) ? lowercase_ : sa->get<bool>();
    // What the whole pipeline makes of each char below U+3000 on its own, when that is exactly one
    // char and the char starts an NFD segment (so its neighbours cannot change the result). A text
    // made only of such chars is normalized char by char from this table.
    one_.assign(kTable, kNone);
    for (char32_t c = 0; c < kTable; ++c) {
      if (!u::has_boundary_before(u::NormForm::NFD, c)) continue;
      NStr one;
      one.push(c, 0, 1);
      normalize_full(one);
      if (one.size() == 1) one_[c] = one.c[0];
    }
  }
  static bool is_chinese(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) ||
           (c >= 0x2B920 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
  }
  void normalize(NStr& s) const override {
    bool simple = true;
    for (char32_t c : s.c)
      if (c >= kTable || one_[c] == kNone) { simple = false; break; }
    if (simple) {  // hot path: every char maps to one char on its own (offsets unchanged)
      for (auto& c : s.c) c = one_[c];
      return;
    }
    normalize_full(s);
  }

 private:
  static constexpr char32_t kTable = 0x3000;
  static constexpr char32_t kNone = ~char32_t{0};

  void normalize_full(NStr& s) const {
    if (clean_text_) {
      NStr r;
      r.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        char32_t c = s.c[i];
        if (c == 0 || c == 0xFFFD) continue;
        bool ws = c == '\t' || c == '\n' || c == '\r' || u::is_whitespace(c);
        if (!ws && u::is_other(c)) continue;
        r.push(ws ? U' ' : c, s.o0[i], s.o1[i]);
      }
      s = std::move(r);
    }
    if (chinese_) {
      map_chars(s, [](char32_t c, std::vector<char32_t>& out) {
        if (is_chinese(c)) { out.push_back(' '); out.push_back(c); out.push_back(' '); }
        else out.push_back(c);
      });
    }
    if (strip_accents_) {
      unicode_normalize(s, u::NormForm::NFD);
      strip_accents(s);
    }
    if (lowercase_) lowercase(s);
  }

  bool clean_text_, chinese_, lowercase_, strip_accents_;
  std::vector<char32_t> one_;
};

class FnNormalizer : public Normalizer {
 public:
  explicit FnNormalizer(void (*f)(NStr&)) : f_(f) {}
  void normalize(NStr& s) const override { f_(s); }
 private:
  void (*f_)(NStr&);
};

class FormNormalizer : public Normalizer {
 public:
  explicit FormNormalizer(u::NormForm f) : form_(f) {}
  void normalize(NStr& s) const override { unicode_normalize(s, form_); }
 private:
  u::NormForm form_;
};

class Strip : public Normalizer {
 public:
  explicit Strip(const json& j) : left_(j.value("strip_left", true)), right_(j.value("strip_right", true)) {}
  void normalize(NStr& s) const override {
    size_t a = 0, b = s.size();
    if (left_) while (a < b && u::is_whitespace(s.c[a])) ++a;
    if (right_) while (b > a && u::is_whitespace(s.c[b - 1])) --b;
    if (a != 0 || b != s.size()) s = s.slice(a, b);
  }
 private:
  bool left_, right_;
};

std::vector<char32_t> cps(const std::string& utf8) {
  std::vector<char32_t> v;
  u::decode_utf8(utf8, v);
  return v;
}

// Replace, with either a literal or an Oniguruma pattern.
class Replace : public Normalizer {
 public:
  explicit Replace(const json& j) {
    const json& p = j.at("pattern");
    if (p.contains("Regex")) re_ = std::make_unique<Regex>(p.at("Regex").get<std::string>());
    else literal_ = cps(p.at("String").get<std::string>());
    content_ = cps(j.at("content").get<std::string>());
  }
  void normalize(NStr& s) const override {
    auto matches = re_ ? find_all_chars(*re_, s) : find_all_literal(literal_, s);
    if (matches.empty()) return;
    NStr r;
    r.reserve(s.size());
    size_t prev = 0;
    for (auto [a, b] : matches) {
      for (size_t k = prev; k < a; ++k) r.push(s.c[k], s.o0[k], s.o1[k]);
      uint32_t oa = s.orig_start(a), ob = b > a ? s.o1[b - 1] : oa;
      for (char32_t c : content_) r.push(c, oa, ob);
      prev = b;
    }
    for (size_t k = prev; k < s.size(); ++k) r.push(s.c[k], s.o0[k], s.o1[k]);
    s = std::move(r);
  }
 private:
  std::unique_ptr<Regex> re_;
  std::vector<char32_t> literal_, content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(const json& j) : prefix_(cps(j.at("prepend").get<std::string>())) {}
  void normalize(NStr& s) const override {
    if (s.empty()) return;  // HF prepends only to non-empty strings
    NStr r;
    r.reserve(s.size() + prefix_.size());
    for (char32_t c : prefix_) r.push(c, s.o0[0], s.o1[0]);
    for (size_t k = 0; k < s.size(); ++k) r.push(s.c[k], s.o0[k], s.o1[k]);
    s = std::move(r);
  }
 private:
  std::vector<char32_t> prefix_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(const json& j) {
    for (const auto& n : j.at("normalizers")) parts_.push_back(make_normalizer(n));
  }
  void normalize(NStr& s) const override {
    for (const auto& p : parts_) if (p) p->normalize(s);
  }
 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "BertNormalizer") return std::make_unique<BertNormalizer>(j);
  if (type == "Lowercase") return std::make_unique<FnNormalizer>(&lowercase);
  if (type == "StripAccents") return std::make_unique<FnNormalizer>(&strip_accents);
  if (type == "NFC") return std::make_unique<FormNormalizer>(u::NormForm::NFC);
  if (type == "NFD") return std::make_unique<FormNormalizer>(u::NormForm::NFD);
  if (type == "NFKC") return std::make_unique<FormNormalizer>(u::NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<FormNormalizer>(u::NormForm::NFKD);
  if (type == "Strip") return std::make_unique<Strip>(j);
  if (type == "Replace") return std::make_unique<Replace>(j);
  if (type == "Prepend") return std::make_unique<Prepend>(j);
  if (type == "Sequence") return std::make_unique<SequenceNormalizer>(j);
  if (type == "Precompiled") return make_precompiled(j);
  throw Error("ERR_TOKENIZER_UNSUPPORTED", "unsupported normalizer type \"" + type + "\"");
}

}  // namespace crossrank::tok
