// An in-memory inverted index scored with Lucene's BM25 (Lucene 8+ formula, document lengths
// stored with Lucene's lossy one-byte norm encoding, as Anserini/Pyserini indexes have them).
// Documents are numbered 0..n-1 in the order they are added. Deleted documents are skipped at
// search time; like Lucene before a merge, they still count in the collection statistics until
// the index is rebuilt.
//
// Search is exact and pruned by default: MaxScore over document-at-a-time cursors, with block-max
// bounds. Every posting list is cut into blocks of kBlock postings; each block (and each list)
// keeps the Pareto frontier of its (term frequency, length norm) pairs — the "impacts" Lucene
// stores. These do not depend on the collection statistics, so they stay valid as documents are
// added; at query time each frontier gives the exact largest score of its block or list. The
// pruned top k equals the exhaustive one (ids, scores, ties broken by lower document number).
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
  static constexpr uint32_t kBlock = 128;  // postings per block of the block-max bounds

  Bm25Index(Bm25Params params, AnalyzerOptions analyzer);
  // Analyzes on `threads` threads, then appends; returns the number of the first new document.
  uint32_t add(const std::vector<std::string>& texts, unsigned threads);
  // Marks documents deleted and returns how many were not already. A number >= size() is
  // ERR_OUT_OF_RANGE, checked before anything is removed.
  uint32_t remove(const std::vector<uint32_t>& docs);
  // Best `k` live documents for the query (query terms weighted by how often they occur).
  // `exhaustive` scores every posting (the reference the pruned search must equal).
  std::vector<Hit> search(std::string_view query, size_t k, bool exhaustive = false) const;
  void save(const std::string& path) const;  // atomic (temporary file + rename)
  // Reads format 1 (bounds computed here) or 2 (bounds read and checked against the postings).
  // Every count, offset, id and bound is validated: a damaged file is ERR_CORRUPT_INDEX.
  static std::unique_ptr<Bm25Index> load(const std::string& path);

  uint32_t size() const;       // documents ever added
  uint32_t live() const;       // not deleted
  size_t terms() const;
  const Analyzer& analyzer() const { return analyzer_; }
  const Bm25Params& params() const { return params_; }

  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  struct Impact {  // a (tf, norm) pair no other posting of its block beats on both
    uint32_t tf;
    uint8_t norm;
  };

 private:
  // Bounds of one posting list: frontier of block b is impacts[off[b] .. off[b+1]).
  struct Bounds {
    std::vector<Impact> impacts;
    std::vector<uint32_t> off{0};
    std::vector<Impact> list;  // frontier of the whole list
  };
  void rebuild_bounds(uint32_t term, size_t from_posting);
  std::vector<Hit> search_exhaustive(const std::vector<std::string>& toks, size_t k) const;
  std::vector<Hit> search_pruned(const std::vector<std::string>& toks, size_t k) const;

  Bm25Params params_;
  Analyzer analyzer_;
  std::unordered_map<std::string, uint32_t> vocab_;
  std::vector<std::string> terms_;
  std::vector<std::vector<Posting>> postings_;
  std::vector<Bounds> bounds_;
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
