// Oniguruma wrapper: the regex engine Hugging Face tokenizers itself uses, so patterns from
// tokenizer.json (\p{L}, look-ahead, ...) mean exactly the same thing here.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace crossrank {

class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // All non-overlapping matches as byte ranges of `text` (UTF-8).
  void find_all(const std::string& text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* re_ = nullptr;
};

// Escape a literal so it can be compiled as a pattern.
std::string regex_escape(const std::string& literal);

}  // namespace crossrank
