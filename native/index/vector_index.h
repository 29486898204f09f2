// A FAISS index behind a small, thread-safe surface: any index_factory string, 64-bit ids,
// search parameters per call, removal where the index supports it, atomic save.
#pragma once
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace faiss {
struct Index;
}

namespace crossrank::index {

enum class Metric { InnerProduct, L2 };

struct SearchParams {
  int nprobe = 0;     // IVF lists to visit (0: keep the index's setting)
  int ef_search = 0;  // HNSW candidate list size (0: keep)
};

class VectorIndex {
 public:
  // Throws crossrank::Error ERR_INDEX_FACTORY when FAISS rejects the description.
  static std::shared_ptr<VectorIndex> create(int dim, const std::string& factory, Metric metric);
  // Throws ERR_INDEX_IO when the file cannot be read.
  static std::shared_ptr<VectorIndex> load(const std::string& path);
  ~VectorIndex();

  void train(const float* x, size_t n);
  // ids may be null: then ids continue from the largest id assigned so far.
  void add(const float* x, size_t n, const int64_t* ids);
  // Results per query, best first; missing results have id -1.
  void search(const float* q, size_t nq, size_t k, const SearchParams& p, float* scores, int64_t* ids) const;
  // Returns how many vectors were removed. Throws ERR_INDEX_UNSUPPORTED when the index cannot.
  size_t remove(const int64_t* ids, size_t n);
  // Writes to `path.tmp-<pid>`, flushes, then renames over `path`: a crash leaves the old file.
  void save(const std::string& path) const;

  int dim() const { return dim_; }
  int64_t ntotal() const;
  bool is_trained() const;
  size_t nlist() const;  // inverted lists of an IVF index; 0 for other kinds
  Metric metric() const { return metric_; }
  const std::string& description() const { return description_; }

 private:
  VectorIndex() = default;
  std::unique_ptr<faiss::Index> index_;
  mutable std::shared_mutex mu_;
  int dim_ = 0;
  Metric metric_ = Metric::L2;
  std::string description_;
  int64_t next_id_ = 0;
};

}  // namespace crossrank::index
