#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/decoders/decoder.h"
#include "tokenizer/pretokenizers/pretokenizer.h"

namespace crossrank::tok {
namespace {

using nlohmann::json;

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// The English clean-up HF applies after WordPiece decoding.
void cleanup(std::string& s) {
  replace_all(s, " .", ".");
  replace_all(s, " ?", "?");
  replace_all(s, " !", "!");
  replace_all(s, " ,", ",");
  replace_all(s, " ' ", "'");
  replace_all(s, " n't", "n't");
  replace_all(s, " 'm", "'m");
  replace_all(s, " do not", " don't");
  replace_all(s, " 's", "'s");
  replace_all(s, " 've", "'ve");
  replace_all(s, " 're", "'re");
}

class WordPieceDec : public Decoder {
 public:
  explicit WordPieceDec(const json& j) : prefix_(j.value("prefix", std::string("##"))), cleanup_(j.value("cleanup", true)) {}
  void decode_chain(std::vector<std::string>& t) const override {
    for (size_t i = 0; i < t.size(); ++i) {
      if (i != 0) {
        if (t[i].compare(0, prefix_.size(), prefix_) == 0) t[i] = t[i].substr(prefix_.size());
        else t[i] = " " + t[i];
      }
      if (cleanup_) cleanup(t[i]);
    }
  }
 private:
  std::string prefix_;
  bool cleanup_;
};

class MetaspaceDec : public Decoder {
 public:
  explicit MetaspaceDec(const json& j) {
    rep_ = j.value("replacement", std::string("\u2581"));
    if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) prepend_ = j["prepend_scheme"].get<std::string>() != "never";
    else prepend_ = j.value("add_prefix_space", true);
  }
  void decode_chain(std::vector<std::string>& t) const override {
    for (size_t i = 0; i < t.size(); ++i) {
      replace_all(t[i], rep_, " ");
      if (i == 0 && prepend_ && !t[i].empty() && t[i][0] == ' ') t[i].erase(0, 1);
    }
  }
 private:
  std::string rep_;
  bool prepend_;
};

class ByteLevelDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& t) const override {
    static const std::vector<int> inv = [] {
      std::vector<int> v(0x200, -1);
      const auto& fwd = byte_to_char();
      for (int b = 0; b < 256; ++b) v[fwd[b]] = b;
      return v;
    }();
    std::string bytes;
    std::vector<char32_t> cps;
    for (const auto& tok : t) {
      unicode::decode_utf8(tok, cps);
      for (char32_t c : cps) {
        if (c < inv.size() && inv[c] >= 0) bytes.push_back(static_cast<char>(inv[c]));
        else unicode::append_utf8(bytes, c);
      }
    }
    // Lossy: invalid UTF-8 becomes U+FFFD, as String::from_utf8_lossy.
    unicode::decode_utf8(bytes, cps);
    t.assign(1, unicode::to_utf8(cps.data(), cps.size()));
  }
};

class BPEDec : public Decoder {
 public:
  explicit BPEDec(const json& j) : suffix_(j.value("suffix", std::string("</w>"))) {}
  void decode_chain(std::vector<std::string>& t) const override {
    for (size_t i = 0; i < t.size(); ++i) replace_all(t[i], suffix_, i + 1 == t.size() ? "" : " ");
  }
 private:
  std::string suffix_;
};

class ReplaceDec : public Decoder {
 public:
  explicit ReplaceDec(const json& j) {
    const auto& p = j.at("pattern");
    if (!p.contains("String")) throw Error("ERR_TOKENIZER_UNSUPPORTED", "Replace decoder supports only String patterns");
    from_ = p["String"].get<std::string>();
    to_ = j.at("content").get<std::string>();
  }
  void decode_chain(std::vector<std::string>& t) const override {
    for (auto& s : t) replace_all(s, from_, to_);
  }
 private:
  std::string from_, to_;
};

class FuseDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& t) const override {
    std::string all;
    for (auto& s : t) all += s;
    t.assign(1, all);
  }
};

class StripDec : public Decoder {
 public:
  explicit StripDec(const json& j) : content_(j.value("content", std::string(" "))), start_(j.value("start", 0)), stop_(j.value("stop", 0)) {}
  void decode_chain(std::vector<std::string>& t) const override {
    std::vector<char32_t> cps;
    char32_t c0 = content_.empty() ? U' ' : static_cast<unsigned char>(content_[0]);
    for (auto& s : t) {
      unicode::decode_utf8(s, cps);
      size_t a = 0, b = cps.size();
      for (int k = 0; k < start_ && a < b && cps[a] == c0; ++k) ++a;
      for (int k = 0; k < stop_ && b > a && cps[b - 1] == c0; ++k) --b;
      s = unicode::to_utf8(cps.data() + a, b - a);
    }
  }
 private:
  std::string content_;
  int start_, stop_;
};

class ByteFallbackDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& t) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      std::vector<char32_t> cps;
      unicode::decode_utf8(pending, cps);
      bool bad = false;
      for (char32_t c : cps) bad |= c == 0xFFFD;
      if (bad) for (size_t k = 0; k < pending_count; ++k) out.push_back("\xEF\xBF\xBD");
      else out.push_back(pending);
      pending.clear();
      pending_count = 0;
    };
    for (auto& s : t) {
      if (s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>') {
        pending.push_back(static_cast<char>(std::stoi(s.substr(3, 2), nullptr, 16)));
        ++pending_count;
      } else {
        flush();
        out.push_back(s);
      }
    }
    flush();
    t = std::move(out);
  }
};

class SequenceDec : public Decoder {
 public:
  explicit SequenceDec(const json& j) {
    for (const auto& d : j.at("decoders")) parts_.push_back(make_decoder(d));
  }
  void decode_chain(std::vector<std::string>& t) const override {
    for (const auto& d : parts_) d->decode_chain(t);
  }
 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "WordPiece") return std::make_unique<WordPieceDec>(j);
  if (type == "Metaspace") return std::make_unique<MetaspaceDec>(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (type == "BPEDecoder") return std::make_unique<BPEDec>(j);
  if (type == "Replace") return std::make_unique<ReplaceDec>(j);
  if (type == "Fuse") return std::make_unique<FuseDec>();
  if (type == "Strip") return std::make_unique<StripDec>(j);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (type == "Sequence") return std::make_unique<SequenceDec>(j);
  throw Error("ERR_TOKENIZER_UNSUPPORTED", "unsupported decoder type \"" + type + "\"");
}

}  // namespace crossrank::tok
