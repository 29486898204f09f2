#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/regex.h"
#include "common/unicode.h"
#include "tokenizer/pretokenizers/pretokenizer.h"

namespace crossrank::tok {
namespace {

using nlohmann::json;
namespace u = crossrank::unicode;
using Matches = std::vector<std::pair<size_t, size_t>>;

template <typename Pred>
Matches char_matches(const NStr& s, Pred pred) {
  Matches m;
  for (size_t i = 0; i < s.size(); ++i)
    if (pred(s.c[i])) m.emplace_back(i, i + 1);
  return m;
}

SplitBehavior parse_behavior(const json& j, SplitBehavior dflt) {
  auto it = j.find("behavior");
  if (it == j.end() || it->is_null()) return dflt;
  const std::string b = it->get<std::string>();
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  throw Error("ERR_TOKENIZER_UNSUPPORTED", "unsupported split behavior \"" + b + "\"");
}

std::vector<char32_t> cps(const std::string& utf8) {
  std::vector<char32_t> v;
  u::decode_utf8(utf8, v);
  return v;
}

// Pre-tokenizers that only cut: `ranges` is the implementation, `split` copies the ranges out.
class CuttingPre : public PreTokenizer {
 public:
  void split(const NStr& s, bool at_start, std::vector<NStr>& out) const override {
    thread_local Ranges r;
    r.clear();
    ranges(s, at_start, r);
    for (auto [a, b] : r) out.push_back(s.slice(a, b));
  }
};

class BertPre : public CuttingPre {
 public:
  // One pass: whitespace removed, every punctuation character its own piece (the same result as
  // HF's two splits, without materializing the intermediate words).
  bool ranges(const NStr& s, bool, Ranges& out) const override {
    const uint32_t n = static_cast<uint32_t>(s.size());
    uint32_t start = 0;
    for (uint32_t i = 0; i < n; ++i) {
      char32_t c = s.c[i];
      if (c < 0x80 ? (c == ' ' || (c >= 0x09 && c <= 0x0D)) : u::is_whitespace(c)) {
        if (i > start) out.emplace_back(start, i);
        start = i + 1;
      } else if (u::is_ascii_punctuation(c) || (c >= 0x80 && u::is_punctuation(c))) {
        if (i > start) out.emplace_back(start, i);
        out.emplace_back(i, i + 1);
        start = i + 1;
      }
    }
    if (n > start) out.emplace_back(start, n);
    return true;
  }
};

class WhitespacePre : public CuttingPre {
 public:
  // \w+|[^\w\s]+ : runs of word characters and runs of other non-space characters.
  bool ranges(const NStr& s, bool, Ranges& out) const override {
    uint32_t i = 0;
    const uint32_t n = static_cast<uint32_t>(s.size());
    while (i < n) {
      if (u::is_whitespace(s.c[i])) { ++i; continue; }
      bool word = u::is_regex_word(s.c[i]);
      uint32_t j = i + 1;
      while (j < n && !u::is_whitespace(s.c[j]) && u::is_regex_word(s.c[j]) == word) ++j;
      out.emplace_back(i, j);
      i = j;
    }
    return true;
  }
};

class WhitespaceSplitPre : public PreTokenizer {
 public:
  void split(const NStr& s, bool, std::vector<NStr>& out) const override {
    split_by_matches(s, char_matches(s, u::is_whitespace), SplitBehavior::Removed, false, out);
  }
};

class CharDelimiterPre : public PreTokenizer {
 public:
  explicit CharDelimiterPre(const json& j) {
    auto v = cps(j.at("delimiter").get<std::string>());
    delim_ = v.empty() ? U' ' : v[0];
  }
  void split(const NStr& s, bool, std::vector<NStr>& out) const override {
    char32_t d = delim_;
    split_by_matches(s, char_matches(s, [d](char32_t c) { return c == d; }), SplitBehavior::Removed, false, out);
  }
 private:
  char32_t delim_;
};

class PunctuationPre : public PreTokenizer {
 public:
  explicit PunctuationPre(const json& j) : how_(parse_behavior(j, SplitBehavior::Isolated)) {}
  void split(const NStr& s, bool, std::vector<NStr>& out) const override {
    split_by_matches(s, char_matches(s, [](char32_t c) { return u::is_ascii_punctuation(c) || u::is_punctuation(c); }),
                     how_, false, out);
  }
 private:
  SplitBehavior how_;
};

class DigitsPre : public PreTokenizer {
 public:
  explicit DigitsPre(const json& j) : individual_(j.value("individual_digits", false)) {}
  void split(const NStr& s, bool, std::vector<NStr>& out) const override {
    split_by_matches(s, char_matches(s, u::is_numeric),
                     individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false, out);
  }
 private:
  bool individual_;
};

class SplitPre : public PreTokenizer {
 public:
  explicit SplitPre(const json& j) {
    const json& p = j.at("pattern");
    if (p.contains("Regex")) re_ = std::make_unique<Regex>(p.at("Regex").get<std::string>());
    else literal_ = cps(p.at("String").get<std::string>());
    how_ = parse_behavior(j, SplitBehavior::Isolated);
    invert_ = j.value("invert", false);
  }
  void split(const NStr& s, bool, std::vector<NStr>& out) const override {
    split_by_matches(s, re_ ? find_all_chars(*re_, s) : find_all_literal(literal_, s), how_, invert_, out);
  }
 private:
  std::unique_ptr<Regex> re_;
  std::vector<char32_t> literal_;
  SplitBehavior how_;
  bool invert_;
};

class MetaspacePre : public PreTokenizer {
 public:
  explicit MetaspacePre(const json& j) {
    auto rep = cps(j.value("replacement", std::string("\u2581")));
    replacement_ = rep.empty() ? U'\u2581' : rep[0];
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
      const std::string p = j["prepend_scheme"].get<std::string>();
      scheme_ = p == "always" ? 0 : p == "first" ? 1 : 2;
    } else {
      scheme_ = j.value("add_prefix_space", true) ? 0 : 2;
    }
    split_ = j.value("split", true);
  }
  void split(const NStr& in, bool at_start, std::vector<NStr>& out) const override {
    NStr s = in;
    for (auto& c : s.c) if (c == U' ') c = replacement_;
    bool prepend = scheme_ == 0 || (scheme_ == 1 && at_start);
    if (prepend && !s.empty() && s.c[0] != replacement_) {
      NStr r;
      r.reserve(s.size() + 1);
      r.push(replacement_, s.o0[0], s.o0[0]);
      for (size_t k = 0; k < s.size(); ++k) r.push(s.c[k], s.o0[k], s.o1[k]);
      s = std::move(r);
    }
    if (!split_) {
      if (!s.empty()) out.push_back(std::move(s));
      return;
    }
    char32_t rc = replacement_;
    split_by_matches(s, char_matches(s, [rc](char32_t c) { return c == rc; }), SplitBehavior::MergedWithNext, false,
                     out);
  }
 private:
  char32_t replacement_;
  int scheme_;  // 0 always, 1 first, 2 never
  bool split_;
};

class ByteLevelPre : public PreTokenizer {
 public:
  explicit ByteLevelPre(const json& j)
      : add_prefix_space_(j.value("add_prefix_space", true)), use_regex_(j.value("use_regex", true)) {
    if (use_regex_) re_ = &gpt2();
  }
  static const Regex& gpt2() {
    static const Regex re(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
    return re;
  }
  void split(const NStr& in, bool, std::vector<NStr>& out) const override {
    const NStr* src = &in;
    NStr prefixed;
    if (add_prefix_space_ && !in.empty() && in.c[0] != U' ') {
      prefixed.reserve(in.size() + 1);
      prefixed.push(U' ', in.o0[0], in.o0[0]);
      for (size_t k = 0; k < in.size(); ++k) prefixed.push(in.c[k], in.o0[k], in.o1[k]);
      src = &prefixed;
    }
    std::vector<NStr> parts;
    if (re_) split_by_matches(*src, find_all_chars(*re_, *src), SplitBehavior::Isolated, false, parts);
    else if (!src->empty()) parts.push_back(*src);
    const auto& table = byte_to_char();
    std::string bytes;
    for (auto& p : parts) {
      NStr r;
      r.reserve(p.size());
      for (size_t k = 0; k < p.size(); ++k) {
        bytes.clear();
        u::append_utf8(bytes, p.c[k]);
        for (unsigned char b : bytes) r.push(table[b], p.o0[k], p.o1[k]);
      }
      out.push_back(std::move(r));
    }
  }
 private:
  bool add_prefix_space_, use_regex_;
  const Regex* re_ = nullptr;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(const json& j) {
    for (const auto& p : j.at("pretokenizers")) parts_.push_back(make_pretokenizer(p));
  }
  void split(const NStr& s, bool at_start, std::vector<NStr>& out) const override {
    std::vector<NStr> cur{s}, next;
    for (const auto& p : parts_) {
      next.clear();
      for (const auto& piece : cur) p->split(piece, at_start && !piece.empty() && piece.o0[0] == 0, next);
      std::swap(cur, next);
    }
    for (auto& piece : cur) out.push_back(std::move(piece));
  }
 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

const std::vector<char32_t>& byte_to_char() {
  static const std::vector<char32_t> table = [] {
    std::vector<char32_t> t(256);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[b] = keep ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

void PreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 4);
  std::vector<NStr> parts;
  for (auto& p : pieces) {
    if (p.token >= 0) {
      out.push_back(std::move(p));
      continue;
    }
    parts.clear();
    bool at_start = !p.s.empty() && p.s.o0[0] == 0;
    split(p.s, at_start, parts);
    for (auto& s : parts) out.push_back(Piece{std::move(s), -1});
  }
  pieces = std::move(out);
}

std::unique_ptr<PreTokenizer> make_pretokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "BertPreTokenizer") return std::make_unique<BertPre>();
  if (type == "Whitespace") return std::make_unique<WhitespacePre>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPre>();
  if (type == "CharDelimiterSplit") return std::make_unique<CharDelimiterPre>(j);
  if (type == "Punctuation") return std::make_unique<PunctuationPre>(j);
  if (type == "Digits") return std::make_unique<DigitsPre>(j);
  if (type == "Split") return std::make_unique<SplitPre>(j);
  if (type == "Metaspace") return std::make_unique<MetaspacePre>(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelPre>(j);
  if (type == "Sequence") return std::make_unique<SequencePre>(j);
  throw Error("ERR_TOKENIZER_UNSUPPORTED", "unsupported pre_tokenizer type \"" + type + "\"");
}

}  // namespace crossrank::tok
