// A FAISS index behind a small, thread-safe surface: any index_factory string, 64-bit ids,
// search parameters per call, removal where the index supports it, atomic save.
#pragma once
#include <atomic>
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
  int64_t nprobe = 0;   // IVF lists to visit (0: keep the index's setting)
  int ef_search = 0;    // HNSW candidate list size (0: keep); also an HNSW coarse quantizer's
  float k_factor = 0;   // refine: base candidates per result (0: keep)
};

// Which FAISS this addon runs and which SIMD kernels it dispatches to.
struct FaissBuildInfo {
  std::string version;                    // "1.15.0"
  std::string simd_level;                 // level in use: NONE, AVX2, AVX512, AVX512_SPR, ARM_NEON, ...
  bool dynamic_dispatch = false;          // one library, kernels chosen by CPUID at load
  std::vector<std::string> available;     // levels this process may switch to
};
FaissBuildInfo faiss_build_info();

class VectorIndex {
 public:
  // Throws crossrank::Error ERR_INDEX_FACTORY when the description is refused (before FAISS sees
  // values it would assert on or loop on) or FAISS rejects it.
  static std::shared_ptr<VectorIndex> create(int dim, const std::string& factory, Metric metric);
  // Throws ERR_INDEX_IO when the file cannot be read, ERR_CORRUPT_INDEX when what it holds is
  // inconsistent (counts, offsets, graph links out of range).
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

  // The getters never take the index lock: a long train/add holds it exclusively, and the JS
  // thread asks for these (ntotal after each add, info()) while it runs.
  int dim() const { return dim_; }
  int64_t ntotal() const { return ntotal_.load(std::memory_order_acquire); }
  bool is_trained() const { return trained_.load(std::memory_order_acquire); }
  size_t nlist() const { return nlist_; }  // inverted lists of an IVF index; 0 for other kinds
  Metric metric() const { return metric_; }
  const std::string& description() const { return description_; }

 private:
  VectorIndex() = default;
  void publish();  // refresh the cached scalars; called with mu_ held
  std::unique_ptr<faiss::Index> index_;
  mutable std::shared_mutex mu_;
  int dim_ = 0;
  Metric metric_ = Metric::L2;
  std::string description_;
  size_t nlist_ = 0;
  std::atomic<int64_t> ntotal_{0};
  std::atomic<bool> trained_{false};
  int64_t next_id_ = 0;
};

// Refuses factory strings that make FAISS assert, crash or loop (IVF0, HNSW0, HNSW1, PQ0x…,
// absurd sizes). Throws ERR_INDEX_FACTORY naming the part. Exposed for tests.
void validate_factory(int dim, const std::string& factory);

}  // namespace crossrank::index
