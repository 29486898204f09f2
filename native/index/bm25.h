// An in-memory inverted index scored with Lucene's BM25 (Lucene 8+ formula, document lengths
// stored with Lucene's lossy one-byte norm encoding, as Anserini/Pyserini indexes have them).
// Documents are numbered 0..n-1 in the order they are added. Deleted documents are skipped at
// search time; like Lucene before a merge, they still count in the collection statistics until
// the index is rebuilt.
#pragma once
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "index/analyzer.h"

namespace crossrank::index {

struct Bm25Params {
  float k1 = 0.9f;
  float b = 0.4f;
};

struct Hit {
  uint32_t doc;
  float score;
};

class Bm25Index {
 public:
  Bm25Index(Bm25Params params, AnalyzerOptions analyzer);
  // Analyzes on `threads` threads, then appends; returns the number of the first new document.
  uint32_t add(const std::vector<std::string>& texts, unsigned threads);
  void remove(const std::vector<uint32_t>& docs);
  // Best `k` live documents for the query (query terms weighted by how often they occur).
  std::vector<Hit> search(std::string_view query, size_t k) const;
  void save(const std::string& path) const;  // atomic (temporary file + rename)
  static std::unique_ptr<Bm25Index> load(const std::string& path);

  uint32_t size() const;       // documents ever added
  uint32_t live() const;       // not deleted
  size_t terms() const;
  const Analyzer& analyzer() const { return analyzer_; }
  const Bm25Params& params() const { return params_; }

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  Bm25Params params_;
  Analyzer analyzer_;
  std::unordered_map<std::string, uint32_t> vocab_;
  std::vector<std::string> terms_;
  std::vector<std::vector<Posting>> postings_;
  std::vector<uint8_t> norms_;    // Lucene SmallFloat.intToByte4(doc length)
  std::vector<uint8_t> deleted_;
  uint64_t total_len_ = 0;
  uint32_t n_deleted_ = 0;
  uint64_t with_terms_ = 0;  // Lucene's docCount: documents with at least one term
  mutable std::shared_mutex mu_;
};

// Lucene's SmallFloat int <-> byte encoding of document lengths.
uint8_t int_to_byte4(uint32_t i);
uint32_t byte4_to_int(uint8_t b);

}  // namespace crossrank::index
