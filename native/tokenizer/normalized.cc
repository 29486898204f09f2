#include "tokenizer/normalized.h"

#include <algorithm>

#include "common/unicode.h"

namespace crossrank::tok {

std::string NStr::utf8() const { return unicode::to_utf8(c.data(), c.size()); }

NStr NStr::from(const std::vector<char32_t>& cps, uint32_t base) {
  NStr r;
  r.c = cps;
  r.o0.resize(cps.size());
  r.o1.resize(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    r.o0[i] = base + static_cast<uint32_t>(i);
    r.o1[i] = base + static_cast<uint32_t>(i) + 1;
  }
  return r;
}

void split_by_matches(const NStr& s, std::vector<std::pair<size_t, size_t>> matches, SplitBehavior how,
                      bool invert, std::vector<NStr>& out) {
  const size_t n = s.size();
  std::vector<Span> spans;
  if (n == 0) {
    spans.push_back({0, 0, false});
  } else {
    size_t prev = 0;
    for (auto [a, b] : matches) {
      if (prev != a) spans.push_back({prev, a, false});
      spans.push_back({a, b, true});
      prev = b;
    }
    if (prev != n) spans.push_back({prev, n, false});
  }
  if (invert) for (auto& sp : spans) sp.match = !sp.match;

  std::vector<Span> merged;
  bool prev_match = false;
  switch (how) {
    case SplitBehavior::Removed:
      for (auto& sp : spans) if (!sp.match) merged.push_back(sp);
      break;
    case SplitBehavior::Isolated:
      merged = spans;
      break;
    case SplitBehavior::MergedWithPrevious:
      for (auto& sp : spans) {
        if (sp.match && !prev_match && !merged.empty()) merged.back().b = sp.b;
        else merged.push_back({sp.a, sp.b, false});
        prev_match = sp.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (size_t i = spans.size(); i-- > 0;) {
        const Span& sp = spans[i];
        if (sp.match && !prev_match && !merged.empty()) merged.back().a = sp.a;
        else merged.push_back({sp.a, sp.b, false});
        prev_match = sp.match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case SplitBehavior::Contiguous:
      for (auto& sp : spans) {
        if (sp.match == prev_match && !merged.empty()) merged.back().b = sp.b;
        else merged.push_back({sp.a, sp.b, false});
        prev_match = sp.match;
      }
      break;
  }
  for (auto& sp : merged) {
    if (sp.b > sp.a) out.push_back(s.slice(sp.a, sp.b));
  }
}

}  // namespace crossrank::tok

#include "common/regex.h"

namespace crossrank::tok {

std::vector<std::pair<size_t, size_t>> find_all_chars(const Regex& re, const NStr& s) {
  std::string text;
  text.reserve(s.size());
  std::vector<uint32_t> char_at;  // byte offset -> char index (for char starts and the end)
  char_at.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    size_t before = text.size();
    unicode::append_utf8(text, s.c[i]);
    char_at.resize(text.size(), static_cast<uint32_t>(i));
    (void)before;
  }
  char_at.push_back(static_cast<uint32_t>(s.size()));
  std::vector<std::pair<size_t, size_t>> bytes, out;
  re.find_all(text, bytes);
  out.reserve(bytes.size());
  for (auto [a, b] : bytes) out.emplace_back(char_at[a], char_at[b]);
  return out;
}

std::vector<std::pair<size_t, size_t>> find_all_literal(const std::vector<char32_t>& needle, const NStr& s) {
  std::vector<std::pair<size_t, size_t>> out;
  const size_t m = needle.size(), n = s.size();
  if (m == 0 || m > n) return out;
  for (size_t i = 0; i + m <= n;) {
    if (std::equal(needle.begin(), needle.end(), s.c.begin() + i)) {
      out.emplace_back(i, i + m);
      i += m;
    } else {
      ++i;
    }
  }
  return out;
}

}  // namespace crossrank::tok
