// The string that flows through the tokenizer pipeline: normalized code points, each remembering
// the range of original code points it came from (for offsets), as Hugging Face's NormalizedString.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace crossrank::tok {

struct NStr {
  std::vector<char32_t> c;
  std::vector<uint32_t> o0, o1;  // original [start, end) in code points, per normalized char

  size_t size() const { return c.size(); }
  bool empty() const { return c.empty(); }
  void reserve(size_t n) { c.reserve(n); o0.reserve(n); o1.reserve(n); }
  void push(char32_t ch, uint32_t a, uint32_t b) { c.push_back(ch); o0.push_back(a); o1.push_back(b); }
  void clear() { c.clear(); o0.clear(); o1.clear(); }
  NStr slice(size_t a, size_t b) const {
    NStr r;
    r.c.assign(c.begin() + a, c.begin() + b);
    r.o0.assign(o0.begin() + a, o0.begin() + b);
    r.o1.assign(o1.begin() + a, o1.begin() + b);
    return r;
  }
  // The original range covered by normalized chars [a, b).
  uint32_t orig_start(size_t a) const { return a < size() ? o0[a] : (empty() ? 0 : o1.back()); }
  uint32_t orig_end(size_t b) const { return b == 0 ? orig_start(0) : o1[b - 1]; }
  std::string utf8() const;
  static NStr from(const std::vector<char32_t>& cps, uint32_t base = 0);
};

// A token as the model produced it: id and original code point offsets.
struct Token {
  int32_t id;
  uint32_t start, end;
};

// One piece of the pre-tokenized string. `token` >= 0 marks an added token matched as a whole.
struct Piece {
  NStr s;
  int32_t token = -1;
};

// Split behaviours shared by every splitting pre-tokenizer (HF's SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Span {
  size_t a, b;
  bool match;
};

// Turn matches over [0, n) (sorted, non-overlapping) into pieces according to the behaviour.
void split_by_matches(const NStr& s, std::vector<std::pair<size_t, size_t>> matches, SplitBehavior how,
                      bool invert, std::vector<NStr>& out);

}  // namespace crossrank::tok

namespace crossrank {
class Regex;
}
namespace crossrank::tok {
// Regex matches over a normalized string, as code point ranges.
std::vector<std::pair<size_t, size_t>> find_all_chars(const Regex& re, const NStr& s);
// Literal (non-regex) matches, left to right, non-overlapping.
std::vector<std::pair<size_t, size_t>> find_all_literal(const std::vector<char32_t>& needle, const NStr& s);
}  // namespace crossrank::tok
