#include "index/analyzer.h"

#include <libstemmer.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/utext.h>

#include <map>
#include <unordered_set>

#include "common/error.h"
#include "common/unicode.h"

namespace crossrank::index {

namespace {

// Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (the set Anserini uses).
const std::unordered_set<std::string_view>& stop_words() {
  static const std::unordered_set<std::string_view> s = {
      "a",    "an",   "and",  "are",  "as",    "at",   "be",    "but",  "by",   "for",  "if",
      "in",   "into", "is",   "it",   "no",    "not",  "of",    "on",   "or",   "such", "that",
      "the",  "their", "then", "there", "these", "they", "this", "to",  "was",  "will", "with"};
  return s;
}

constexpr size_t kMaxTokenChars = 255;  // Lucene StandardTokenizer's default max token length

// Per-thread ICU word iterator and stemmers (neither is thread-safe).
struct ThreadState {
  UBreakIterator* brk = nullptr;
  std::map<std::string, sb_stemmer*> stemmers;
  ThreadState() {
    UErrorCode st = U_ZERO_ERROR;
    brk = ubrk_open(UBRK_WORD, "en", nullptr, 0, &st);
    if (U_FAILURE(st)) throw Error("ERR_NATIVE", std::string("ICU word break iterator: ") + u_errorName(st));
  }
  ~ThreadState() {
    if (brk) ubrk_close(brk);
    for (auto& [k, s] : stemmers) sb_stemmer_delete(s);
  }
  sb_stemmer* stemmer(const std::string& name) {
    auto it = stemmers.find(name);
    if (it != stemmers.end()) return it->second;
    sb_stemmer* s = sb_stemmer_new(name.c_str(), "UTF_8");
    if (!s) throw Error("ERR_INVALID_ARG_VALUE", "unknown stemmer \"" + name + "\"");
    stemmers[name] = s;
    return s;
  }
};

ThreadState& state() {
  thread_local ThreadState s;
  return s;
}

void lower_into(std::string_view word, std::string& out) {
  out.clear();
  bool ascii = true;
  for (unsigned char c : word)
    if (c >= 0x80) { ascii = false; break; }
  if (ascii) {
    for (unsigned char c : word) out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    return;
  }
  std::vector<char32_t> cps, low;
  unicode::decode_utf8(word, cps);
  for (char32_t c : cps) {
    // Lucene's LowerCaseFilter lower-cases per code point (Character.toLowerCase): simple mapping.
    unicode::append_utf8(out, static_cast<char32_t>(u_tolower(static_cast<UChar32>(c))));
  }
}

// EnglishPossessiveFilter: drop a trailing 's / 'S (with ' U+2019 or U+FF07 as the apostrophe).
void strip_possessive(std::string& w) {
  auto ends = [&](std::string_view suf) { return w.size() >= suf.size() && w.compare(w.size() - suf.size(), suf.size(), suf) == 0; };
  for (std::string_view apos : {std::string_view("'"), std::string_view("\xE2\x80\x99"), std::string_view("\xEF\xBC\x87")}) {
    for (char s : {'s', 'S'}) {
      std::string suf = std::string(apos) + s;
      if (ends(suf)) {
        w.resize(w.size() - suf.size());
        return;
      }
    }
  }
}

}  // namespace

Analyzer::Analyzer(AnalyzerOptions opts) : opts_(std::move(opts)) {
  if (opts_.stemmer != "none") state().stemmer(opts_.stemmer);  // validate the name now
}

Analyzer::~Analyzer() = default;

void Analyzer::analyze(std::string_view text, std::vector<std::string>& out) const {
  ThreadState& ts = state();
  UErrorCode st = U_ZERO_ERROR;
  UText* ut = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &st);
  if (U_FAILURE(st)) return;
  ubrk_setUText(ts.brk, ut, &st);
  sb_stemmer* stem = opts_.stemmer == "none" ? nullptr : ts.stemmer(opts_.stemmer);
  const auto& stops = stop_words();
  std::string word, tmp;
  int32_t start = ubrk_first(ts.brk);
  for (int32_t end = ubrk_next(ts.brk); end != UBRK_DONE; start = end, end = ubrk_next(ts.brk)) {
    // Keep letters, numbers, kana and ideographs; skip spaces and punctuation (status "none").
    if (ubrk_getRuleStatus(ts.brk) < UBRK_WORD_NONE_LIMIT) continue;
    std::string_view raw = text.substr(static_cast<size_t>(start), static_cast<size_t>(end - start));
    word.assign(raw);
    strip_possessive(word);
    lower_into(word, tmp);
    if (tmp.empty()) continue;
    if (tmp.size() > kMaxTokenChars * 4) continue;  // Lucene skips over-long tokens
    if (opts_.stopwords && stops.count(tmp)) continue;
    // The original Porter stemmer (Lucene's PorterStemFilter) leaves words of 1-2 letters alone;
    // Snowball's would strip "s" to nothing.
    if (stem && tmp.size() > 2) {
      const sb_symbol* s = sb_stemmer_stem(stem, reinterpret_cast<const sb_symbol*>(tmp.data()), static_cast<int>(tmp.size()));
      if (s) {
        out.emplace_back(reinterpret_cast<const char*>(s), static_cast<size_t>(sb_stemmer_length(stem)));
        continue;
      }
    }
    out.push_back(tmp);
  }
  utext_close(ut);
}

}  // namespace crossrank::index
