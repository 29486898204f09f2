#include "index/vector_index.h"

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <mutex>

#include "common/error.h"

namespace crossrank::index {

namespace {

// The index that holds the vectors, under IDMap / PreTransform wrappers.
faiss::Index* core(faiss::Index* idx) {
  for (;;) {
    if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) idx = m->index;
    else if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(idx)) idx = t->index;
    else return idx;
  }
}

// IVF indexes carry ids natively; everything else gets an IDMap2 so callers' ids survive.
bool has_native_ids(faiss::Index* idx) { return dynamic_cast<faiss::IndexIVF*>(core(idx)) != nullptr; }

template <typename F>
auto guard(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_FAISS", std::string(what) + ": " + e.what());
  }
}

}  // namespace

VectorIndex::~VectorIndex() = default;

std::shared_ptr<VectorIndex> VectorIndex::create(int dim, const std::string& factory, Metric metric) {
  std::shared_ptr<VectorIndex> v(new VectorIndex());
  v->dim_ = dim;
  v->metric_ = metric;
  v->description_ = factory;
  try {
    faiss::Index* raw =
        faiss::index_factory(dim, factory.c_str(), metric == Metric::InnerProduct ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2);
    std::unique_ptr<faiss::Index> idx(raw);
    // index_factory turns on polysemous training for IVF-PQ. It only serves polysemous (Hamming)
    // filtering, which search here does not use, and on Debian's generic-x86-64 build it costs
    // minutes (software popcount): 30 s for 5 000 training vectors.
    if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(core(idx.get()))) ivfpq->do_polysemous_training = false;
    if (!has_native_ids(idx.get()) && !dynamic_cast<faiss::IndexIDMap*>(idx.get())) {
      auto* map = new faiss::IndexIDMap2(idx.release());
      map->own_fields = true;
      idx.reset(map);
    }
    v->index_ = std::move(idx);
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_INDEX_FACTORY", "FAISS cannot build index \"" + factory + "\" for dimension " + std::to_string(dim) + ": " + e.what());
  }
  return v;
}

std::shared_ptr<VectorIndex> VectorIndex::load(const std::string& path) {
  std::shared_ptr<VectorIndex> v(new VectorIndex());
  try {
    v->index_.reset(faiss::read_index(path.c_str()));
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_INDEX_IO", "cannot read FAISS index " + path + ": " + e.what());
  }
  v->dim_ = v->index_->d;
  v->metric_ = v->index_->metric_type == faiss::METRIC_INNER_PRODUCT ? Metric::InnerProduct : Metric::L2;
  v->description_ = "loaded from " + path;
  // Continue ids after the largest stored one.
  if (auto* m = dynamic_cast<faiss::IndexIDMap*>(v->index_.get())) {
    for (auto id : m->id_map) v->next_id_ = std::max(v->next_id_, id + 1);
  } else {
    v->next_id_ = v->index_->ntotal;
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(core(v->index_.get()))) {
      for (size_t l = 0; l < ivf->nlist; ++l) {
        size_t n = ivf->invlists->list_size(l);
        if (!n) continue;
        faiss::InvertedLists::ScopedIds ids(ivf->invlists, l);
        for (size_t i = 0; i < n; ++i) v->next_id_ = std::max(v->next_id_, ids[i] + 1);
      }
    }
  }
  return v;
}

int64_t VectorIndex::ntotal() const {
  std::shared_lock lock(mu_);
  return index_->ntotal;
}

bool VectorIndex::is_trained() const {
  std::shared_lock lock(mu_);
  return index_->is_trained;
}

size_t VectorIndex::nlist() const {
  std::shared_lock lock(mu_);
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(core(index_.get()));
  return ivf ? ivf->nlist : 0;
}

void VectorIndex::train(const float* x, size_t n) {
  std::unique_lock lock(mu_);
  guard("train", [&] { index_->train(static_cast<faiss::Index::idx_t>(n), x); });
}

void VectorIndex::add(const float* x, size_t n, const int64_t* ids) {
  std::unique_lock lock(mu_);
  if (!index_->is_trained) throw Error("ERR_INDEX_NOT_TRAINED", "this index must be trained before vectors are added");
  std::vector<faiss::Index::idx_t> assigned;
  if (!ids) {
    assigned.resize(n);
    for (size_t i = 0; i < n; ++i) assigned[i] = next_id_ + static_cast<int64_t>(i);
    ids = assigned.data();
  }
  guard("add", [&] { index_->add_with_ids(static_cast<faiss::Index::idx_t>(n), x, ids); });
  for (size_t i = 0; i < n; ++i) next_id_ = std::max(next_id_, ids[i] + 1);
}

namespace {
// Sets the calling thread's OpenMP team size for one scope (n <= 0: leave it).
class OmpThreads {
 public:
  explicit OmpThreads(int n) : saved_(omp_get_max_threads()), set_(n > 0) {
    if (set_) omp_set_num_threads(n);
  }
  ~OmpThreads() {
    if (set_) omp_set_num_threads(saved_);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int saved_;
  bool set_;
};
}  // namespace

void VectorIndex::search(const float* q, size_t nq, size_t k, const SearchParams& p, float* scores, int64_t* ids) const {
  // A single query runs on the calling thread alone: FAISS would start an OpenMP team for it (HNSW
  // even allocates a visited table per team member), and every libuv thread that searches would
  // keep a team of its own spinning on the same cores.
  OmpThreads one(nq == 1 ? 1 : 0);
  // Search-time knobs go in per-call SearchParameters, so concurrent searches with different
  // settings share the lock instead of queueing for it.
  std::shared_lock lock(mu_);
  faiss::Index* c = core(index_.get());
  faiss::SearchParametersIVF ivf_params;
  faiss::SearchParametersHNSW hnsw_params;
  const faiss::SearchParameters* params = nullptr;
  if (p.nprobe > 0) {
    auto* ivf = dynamic_cast<faiss::IndexIVF*>(c);
    if (!ivf) throw Error("ERR_INDEX_UNSUPPORTED", "nprobe applies to IVF indexes only");
    ivf_params.nprobe = static_cast<size_t>(p.nprobe);
    ivf_params.max_codes = ivf->max_codes;
    params = &ivf_params;
  }
  if (p.ef_search > 0) {
    auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(c);
    if (!hnsw) throw Error("ERR_INDEX_UNSUPPORTED", "efSearch applies to HNSW indexes only");
    hnsw_params.efSearch = p.ef_search;
    hnsw_params.check_relative_distance = hnsw->hnsw.check_relative_distance;
    params = &hnsw_params;
  }
  const auto n = static_cast<faiss::Index::idx_t>(nq);
  const auto kk = static_cast<faiss::Index::idx_t>(k);
  guard("search", [&] {
    auto* idmap = dynamic_cast<faiss::IndexIDMap*>(index_.get());
    if (!params || !idmap) {
      index_->search(n, q, kk, scores, ids, params);
      return;
    }
    // FAISS 1.7's IDMap refuses SearchParameters: search the wrapped index and map ids here.
    idmap->index->search(n, q, kk, scores, ids, params);
    for (size_t i = 0; i < nq * k; ++i)
      if (ids[i] >= 0) ids[i] = idmap->id_map[static_cast<size_t>(ids[i])];
  });
}

size_t VectorIndex::remove(const int64_t* ids, size_t n) {
  std::unique_lock lock(mu_);
  faiss::IDSelectorBatch sel(n, ids);
  try {
    return index_->remove_ids(sel);
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_INDEX_UNSUPPORTED", std::string("this index cannot remove vectors: ") + e.what());
  }
}

void VectorIndex::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    faiss::write_index(index_.get(), tmp.c_str());
  } catch (const faiss::FaissException& e) {
    std::remove(tmp.c_str());
    throw Error("ERR_INDEX_IO", "cannot write FAISS index " + tmp + ": " + e.what());
  }
  // write_index closes the file; fsync it before the rename makes it visible.
  if (FILE* f = std::fopen(tmp.c_str(), "rb")) {
    ::fsync(fileno(f));
    std::fclose(f);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error("ERR_INDEX_IO", "cannot move " + tmp + " over " + path + ": " + ec.message());
  }
}

}  // namespace crossrank::index
