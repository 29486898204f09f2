#include "common/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "common/error.h"

namespace crossrank {

namespace {
std::once_flag g_init;
}

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  std::call_once(g_init, [] {
    OnigEncoding enc[] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
  });
  regex_t* re = nullptr;
  OnigErrorInfo info;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  int r = onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                   ONIG_SYNTAX_DEFAULT, &info);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &info);
    throw Error("ERR_TOKENIZER_CONFIG",
                "invalid regular expression /" + pattern + "/: " + reinterpret_cast<char*>(msg));
  }
  re_ = re;
}

Regex::~Regex() {
  if (re_) onig_free(static_cast<regex_t*>(re_));
}

void Regex::find_all(const std::string& text, std::vector<std::pair<size_t, size_t>>& out) const {
  auto* re = static_cast<regex_t*>(re_);
  const auto* start = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = start + text.size();
  OnigRegion* region = onig_region_new();
  size_t pos = 0;
  while (pos <= text.size()) {
    int r = onig_search(re, start, end, start + pos, end, region, ONIG_OPTION_NONE);
    if (r < 0) break;  // ONIG_MISMATCH or error: no more matches
    size_t a = static_cast<size_t>(region->beg[0]);
    size_t b = static_cast<size_t>(region->end[0]);
    out.emplace_back(a, b);
    if (b == a) {
      // Empty match: step over one whole UTF-8 character.
      if (b >= text.size()) break;
      size_t step = 1;
      while (b + step < text.size() && (static_cast<unsigned char>(text[b + step]) & 0xC0) == 0x80) ++step;
      pos = b + step;
    } else {
      pos = b;
    }
    onig_region_clear(region);
  }
  onig_region_free(region, 1);
}

std::string regex_escape(const std::string& literal) {
  std::string out;
  for (char ch : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(ch) != std::string_view::npos) out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

}  // namespace crossrank
