// English text analysis as Lucene/Anserini's default English analyzer does it: UAX#29 word
// segmentation (ICU, the rules Lucene's StandardTokenizer implements), possessive removal,
// lower-casing, Lucene's English stop words, and the Porter stemmer (Snowball's libstemmer).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace crossrank::index {

struct AnalyzerOptions {
  std::string stemmer = "porter";  // "porter" (Lucene's PorterStemFilter), "english" (Porter2) or "none"
  bool stopwords = true;
};

class Analyzer {
 public:
  explicit Analyzer(AnalyzerOptions opts);
  ~Analyzer();
  // Appends the terms of `text`. Thread-safe (per-thread stemmer and segmenter state).
  void analyze(std::string_view text, std::vector<std::string>& out) const;
  const AnalyzerOptions& options() const { return opts_; }

 private:
  AnalyzerOptions opts_;
};

}  // namespace crossrank::index
