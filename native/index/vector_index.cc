#include "index/vector_index.h"

#include <faiss/Index.h>
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFastScan.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/BlockInvertedLists.h>
#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <regex>

#include "common/error.h"

// FAISS 1.8 brought IndexRefineSearchParameters and runtime SIMD levels; Debian's 1.7.3 (the
// CROSSRANK_FAISS_SYSTEM build) has neither.
#if FAISS_VERSION_MAJOR > 1 || (FAISS_VERSION_MAJOR == 1 && FAISS_VERSION_MINOR >= 8)
#define CROSSRANK_FAISS_MODERN 1
#include <faiss/utils/simd_levels.h>
#else
#define CROSSRANK_FAISS_MODERN 0
#endif

#define CROSSRANK_STR2(x) #x
#define CROSSRANK_STR(x) CROSSRANK_STR2(x)
#define FAISS_VERSION_STRING \
  CROSSRANK_STR(FAISS_VERSION_MAJOR) "." CROSSRANK_STR(FAISS_VERSION_MINOR) "." CROSSRANK_STR(FAISS_VERSION_PATCH)

namespace crossrank::index {

namespace {

using idx_t = int64_t;  // faiss::idx_t (1.8+) and faiss::Index::idx_t (1.7) are both int64_t

// The index that holds the vectors, under IDMap / PreTransform wrappers (the ones that accept
// add_with_ids on the caller's behalf).
faiss::Index* core(faiss::Index* idx) {
  for (;;) {
    if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) idx = m->index;
    else if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(idx)) idx = t->index;
    else return idx;
  }
}

// The IVF index under any wrapper, a refine's base included; null when there is none.
faiss::IndexIVF* find_ivf(faiss::Index* idx) {
  for (;;) {
    if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) idx = m->index;
    else if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(idx)) idx = t->index;
    else if (auto* r = dynamic_cast<faiss::IndexRefine*>(idx)) idx = r->base_index;
    else return dynamic_cast<faiss::IndexIVF*>(idx);
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

[[noreturn]] void factory_error(const std::string& factory, const std::string& why) {
  throw Error("ERR_INDEX_FACTORY", "index factory \"" + factory + "\" refused: " + why);
}

// ---- search parameters through the wrapper chain ---------------------------------------------

// Per-call SearchParameters mirroring the index's wrappers (PreTransform -> index_params,
// Refine -> base_index_params, IVF -> quantizer_params), so knobs reach the index they belong to.
struct ParamChain {
  std::deque<std::unique_ptr<faiss::SearchParameters>> owned;
  bool used_nprobe = false, used_ef = false, used_k_factor = false;

  template <typename T>
  T* make() {
    auto p = std::make_unique<T>();
    T* raw = p.get();
    owned.push_back(std::move(p));
    return raw;
  }

  // Null when nothing under `idx` needs a setting other than its own.
  faiss::SearchParameters* build(faiss::Index* idx, const SearchParams& p) {
    if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) return build(m->index, p);
    if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(idx)) {
      faiss::SearchParameters* inner = build(t->index, p);
      if (!inner) return nullptr;
      auto* out = make<faiss::SearchParametersPreTransform>();
      out->index_params = inner;
      return out;
    }
    if (auto* r = dynamic_cast<faiss::IndexRefine*>(idx)) {
#if CROSSRANK_FAISS_MODERN
      faiss::SearchParameters* inner = build(r->base_index, p);
      if (!inner && p.k_factor <= 0) return nullptr;
      auto* out = make<faiss::IndexRefineSearchParameters>();
      out->k_factor = p.k_factor > 0 ? p.k_factor : r->k_factor;
      out->base_index_params = inner;
      used_k_factor = used_k_factor || p.k_factor > 0;
      return out;
#else
      (void)r;
      return nullptr;  // FAISS 1.7's IndexRefine takes no search parameters
#endif
    }
    if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx)) {
      faiss::SearchParameters* qp = nullptr;
      if (p.ef_search > 0 && dynamic_cast<faiss::IndexHNSW*>(ivf->quantizer)) qp = build(ivf->quantizer, p);
      if (p.nprobe <= 0 && !qp) return nullptr;
      auto* out = make<faiss::SearchParametersIVF>();
      // nprobe beyond nlist means every list; FAISS clamps the same way.
      out->nprobe = p.nprobe > 0 ? std::min(static_cast<size_t>(p.nprobe), ivf->nlist) : ivf->nprobe;
      out->max_codes = ivf->max_codes;
      out->quantizer_params = qp;
      used_nprobe = used_nprobe || p.nprobe > 0;
      return out;
    }
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(idx)) {
      if (p.ef_search <= 0) return nullptr;
      auto* out = make<faiss::SearchParametersHNSW>();
      out->efSearch = p.ef_search;
      out->check_relative_distance = hnsw->hnsw.check_relative_distance;
#if CROSSRANK_FAISS_MODERN
      out->bounded_queue = hnsw->hnsw.search_bounded_queue;
#endif
      used_ef = true;
      return out;
    }
    return nullptr;
  }
};

// ---- checks after load -----------------------------------------------------------------------

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error("ERR_CORRUPT_INDEX", "FAISS index " + path + " is damaged: " + what);
}

// FAISS's loader reads HNSW links as stored (1.7 checks none of them): an id out of range is a
// wild read at search time. Every count, offset and link is checked against the node count.
void check_hnsw(const faiss::IndexHNSW& h, const std::string& path) {
  const faiss::HNSW& g = h.hnsw;
  const size_t n = static_cast<size_t>(h.ntotal);
  if (!h.storage) corrupt(path, "HNSW index without vector storage");
  if (h.storage->ntotal != h.ntotal || h.storage->d != h.d) corrupt(path, "HNSW storage does not match the graph");
  const auto& cum = g.cum_nneighbor_per_level;
  if (cum.empty() || cum[0] != 0) corrupt(path, "HNSW level table is empty or does not start at 0");
  for (size_t i = 1; i < cum.size(); ++i)
    if (cum[i] < cum[i - 1]) corrupt(path, "HNSW level table decreases at level " + std::to_string(i));
  if (g.levels.size() != n) corrupt(path, "HNSW has " + std::to_string(g.levels.size()) + " levels for " + std::to_string(n) + " vectors");
  if (g.offsets.size() != n + 1 || g.offsets[0] != 0) corrupt(path, "HNSW neighbour offsets do not cover the vectors");
  for (size_t i = 0; i < n; ++i) {
    const int lv = g.levels[i];
    if (lv < 1 || static_cast<size_t>(lv) >= cum.size()) corrupt(path, "HNSW level of node " + std::to_string(i) + " out of range");
    if (g.offsets[i + 1] != g.offsets[i] + static_cast<size_t>(cum[lv]))
      corrupt(path, "HNSW neighbour offsets inconsistent at node " + std::to_string(i));
  }
  if (g.offsets[n] != g.neighbors.size()) corrupt(path, "HNSW neighbour table size does not match its offsets");
  const auto nmax = static_cast<int64_t>(n);
  for (size_t i = 0; i < g.neighbors.size(); ++i) {
    const int64_t v = g.neighbors[i];
    if (v < -1 || v >= nmax) corrupt(path, "HNSW link " + std::to_string(i) + " points to node " + std::to_string(v) + " of " + std::to_string(n));
  }
  if (n == 0) {
    if (g.entry_point != -1) corrupt(path, "empty HNSW graph with an entry point");
  } else {
    if (g.entry_point < 0 || g.entry_point >= nmax) corrupt(path, "HNSW entry point out of range");
    // Search descends from max_level through the entry point's own levels.
    if (g.max_level != g.levels[static_cast<size_t>(g.entry_point)] - 1) corrupt(path, "HNSW top level does not match its entry point");
  }
  if (g.efSearch < 1 || g.efSearch > (1 << 20) || g.efConstruction < 1 || g.efConstruction > (1 << 20))
    corrupt(path, "HNSW efSearch / efConstruction out of range");
}

void check_loaded(faiss::Index* idx, const std::string& path, int depth = 0) {
  if (depth > 16) corrupt(path, "index nesting too deep");
  if (idx->d <= 0 || idx->d > (1 << 16)) corrupt(path, "dimension " + std::to_string(idx->d) + " out of range");
  if (idx->ntotal < 0) corrupt(path, "negative vector count");
  if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) {
    if (!m->index || m->index->d != idx->d) corrupt(path, "id map does not wrap an index of its dimension");
    if (m->id_map.size() != static_cast<size_t>(idx->ntotal) || m->index->ntotal != idx->ntotal)
      corrupt(path, "id map holds " + std::to_string(m->id_map.size()) + " ids for " + std::to_string(idx->ntotal) + " vectors");
    return check_loaded(m->index, path, depth + 1);
  }
  if (auto* t = dynamic_cast<faiss::IndexPreTransform*>(idx)) {
    if (!t->index || t->index->ntotal != idx->ntotal) corrupt(path, "pre-transform does not wrap its index");
    int d = idx->d;
    for (auto* vt : t->chain) {
      if (!vt || vt->d_in != d) corrupt(path, "pre-transform chain dimensions do not line up");
      d = vt->d_out;
    }
    if (d != t->index->d) corrupt(path, "pre-transform output does not match the index dimension");
    return check_loaded(t->index, path, depth + 1);
  }
  if (auto* r = dynamic_cast<faiss::IndexRefine*>(idx)) {
    if (!r->base_index || !r->refine_index) corrupt(path, "refine index without its two parts");
    if (r->base_index->d != idx->d || r->refine_index->d != idx->d || r->base_index->ntotal != idx->ntotal ||
        r->refine_index->ntotal != idx->ntotal)
      corrupt(path, "refine parts do not match");
    if (!(r->k_factor >= 1 && r->k_factor <= 4096)) corrupt(path, "refine k_factor out of range");
    check_loaded(r->base_index, path, depth + 1);
    return check_loaded(r->refine_index, path, depth + 1);
  }
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx)) {
    if (!ivf->quantizer || !ivf->invlists) corrupt(path, "IVF index without quantizer or lists");
    // The coarse quantizer's answers index the lists: a count mismatch is a wild read.
    if (ivf->nlist == 0 || ivf->invlists->nlist != ivf->nlist ||
        (ivf->is_trained && static_cast<size_t>(ivf->quantizer->ntotal) != ivf->nlist))
      corrupt(path, "IVF quantizer holds " + std::to_string(ivf->quantizer->ntotal) + " centroids for " + std::to_string(ivf->nlist) + " lists");
    if (ivf->quantizer->d != idx->d) corrupt(path, "IVF quantizer dimension does not match");
    size_t total = 0;
    for (size_t l = 0; l < ivf->nlist; ++l) total += ivf->invlists->list_size(l);
    if (total != static_cast<size_t>(idx->ntotal)) corrupt(path, "IVF lists hold " + std::to_string(total) + " vectors, header says " + std::to_string(idx->ntotal));
    // Fast-scan reads whole blocks of bbs codes: the lists' blocks must be the index's.
    if (auto* fs = dynamic_cast<faiss::IndexIVFFastScan*>(ivf)) {
      auto* bil = dynamic_cast<faiss::BlockInvertedLists*>(ivf->invlists);
      if (!bil || fs->bbs <= 0 || bil->n_per_block != static_cast<size_t>(fs->bbs) ||
          bil->block_size != static_cast<size_t>(fs->bbs) * fs->M2 / 2)
        corrupt(path, "fast-scan lists are not in the index's block layout");
    }
    return check_loaded(ivf->quantizer, path, depth + 1);
  }
  if (auto* h = dynamic_cast<faiss::IndexHNSW*>(idx)) {
    check_hnsw(*h, path);
    return check_loaded(h->storage, path, depth + 1);
  }
  if (auto* f = dynamic_cast<faiss::IndexFlatCodes*>(idx)) {
    if (f->codes.size() != static_cast<size_t>(f->ntotal) * f->code_size) corrupt(path, "flat code table does not hold its vectors");
  }
}

// ---- factory strings -------------------------------------------------------------------------

}  // namespace

void validate_factory(int dim, const std::string& factory) {
  if (dim < 1 || dim > (1 << 16)) throw Error("ERR_INDEX_FACTORY", "dimension " + std::to_string(dim) + " out of range [1, 65536]");
  if (factory.empty() || factory.size() > 256) factory_error(factory, "expected 1 to 256 characters");
  for (unsigned char c : factory)
    if (c < 0x21 || c > 0x7e) factory_error(factory, "only printable ASCII without spaces is accepted");
  // Every count in a description: IVF lists, HNSW links, PQ sub-quantizers and bits, PCA and OPQ
  // widths, ... FAISS asserts (IVF0, HNSW0), loops forever (HNSW1) or allocates without bound on
  // values it does not check, so each is bounded here.
  static const std::regex number("([A-Za-z]*)([0-9]+)");
  for (std::sregex_iterator it(factory.begin(), factory.end(), number), end; it != end; ++it) {
    const std::string prefix = (*it)[1].str();
    const std::string digits = (*it)[2].str();
    const std::string part = prefix + digits;
    if (digits.size() > 8) factory_error(factory, "\"" + part + "\": number too large");
    const long v = std::stol(digits);
    if (v == 0) factory_error(factory, "\"" + part + "\": a count of 0");
    if (prefix == "HNSW" || prefix == "NSG") {
      if (v < 2 || v > 256) factory_error(factory, "\"" + part + "\": graph degree must be 2 to 256");
    } else if (prefix == "IVF") {
      if (v > (1L << 22) || static_cast<double>(v) * dim > 4294967296.0)
        factory_error(factory, "\"" + part + "\": at most 4194304 lists and 2^32 centroid floats");
    } else if (prefix == "x") {
      // Bits per code (PQ16x8, RQ4x12, IMI2x10): tables of 2^bits entries.
      if (v > 16) factory_error(factory, "\"" + part + "\": at most 16 bits per code");
    } else if (v > (1L << 16)) {
      factory_error(factory, "\"" + part + "\": at most 65536");
    }
  }
  static const std::regex imi("IMI2x([0-9]+)");
  std::smatch m;
  if (std::regex_search(factory, m, imi) && std::stol(m[1].str()) > 11) factory_error(factory, "IMI2x: at most 11 bits (4M lists)");
}

FaissBuildInfo faiss_build_info() {
  FaissBuildInfo info;
  info.version = FAISS_VERSION_STRING;
#if CROSSRANK_FAISS_MODERN
  info.simd_level = faiss::SIMDConfig::get_level_name();
  // SIMDConfig::has_dynamic_dispatch() is evaluated in this file, built without FAISS's private
  // FAISS_ENABLE_DD: the build says it instead.
#ifdef CROSSRANK_FAISS_DD
  info.dynamic_dispatch = true;
#else
  info.dynamic_dispatch = faiss::SIMDConfig::has_dynamic_dispatch();
#endif
  for (auto l : {faiss::SIMDLevel::NONE, faiss::SIMDLevel::AVX2, faiss::SIMDLevel::AVX512, faiss::SIMDLevel::AVX512_SPR,
                 faiss::SIMDLevel::ARM_NEON, faiss::SIMDLevel::ARM_SVE})
    if (faiss::SIMDConfig::is_simd_level_available(l)) info.available.push_back(faiss::to_string(l));
#else
  info.simd_level = "NONE";  // Debian's 1.7 is built for the generic x86-64 baseline
  info.available.push_back("NONE");
#endif
  return info;
}

VectorIndex::~VectorIndex() = default;

void VectorIndex::publish() {
  ntotal_.store(index_->ntotal, std::memory_order_release);
  trained_.store(index_->is_trained, std::memory_order_release);
}

std::shared_ptr<VectorIndex> VectorIndex::create(int dim, const std::string& factory, Metric metric) {
  validate_factory(dim, factory);
  std::shared_ptr<VectorIndex> v(new VectorIndex());
  v->dim_ = dim;
  v->metric_ = metric;
  v->description_ = factory;
  try {
    faiss::Index* raw =
        faiss::index_factory(dim, factory.c_str(), metric == Metric::InnerProduct ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2);
    std::unique_ptr<faiss::Index> idx(raw);
    // index_factory turns on polysemous training for IVF-PQ. It only serves polysemous (Hamming)
    // filtering, which search here does not use, and on a generic-x86-64 build it costs minutes
    // (software popcount): 30 s for 5 000 training vectors.
    if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(find_ivf(idx.get()))) ivfpq->do_polysemous_training = false;
    if (!has_native_ids(idx.get()) && !dynamic_cast<faiss::IndexIDMap*>(idx.get())) {
      auto* map = new faiss::IndexIDMap2(idx.release());
      map->own_fields = true;
      idx.reset(map);
    }
    v->index_ = std::move(idx);
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_INDEX_FACTORY", "FAISS cannot build index \"" + factory + "\" for dimension " + std::to_string(dim) + ": " + e.what());
  }
  auto* ivf = find_ivf(v->index_.get());
  v->nlist_ = ivf ? ivf->nlist : 0;
  v->publish();
  return v;
}

std::shared_ptr<VectorIndex> VectorIndex::load(const std::string& path) {
  std::shared_ptr<VectorIndex> v(new VectorIndex());
  // A file that cannot be opened is an I/O error; one FAISS cannot parse is a damaged (or foreign,
  // e.g. written by a newer FAISS) file.
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    throw Error("ERR_INDEX_IO", "cannot open FAISS index " + path + ": " + std::strerror(errno));
  }
  try {
    v->index_.reset(faiss::read_index(path.c_str()));
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_CORRUPT_INDEX", "FAISS index " + path + " cannot be read by FAISS " FAISS_VERSION_STRING
                " (damaged, or written by a newer FAISS): " + e.what());
  } catch (const std::bad_alloc&) {
    corrupt(path, "a stored size asks for more memory than there is");
  } catch (const std::length_error&) {
    corrupt(path, "a stored size is out of range");
  }
  check_loaded(v->index_.get(), path);
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
  auto* ivf = find_ivf(v->index_.get());
  v->nlist_ = ivf ? ivf->nlist : 0;
  v->publish();
  return v;
}

void VectorIndex::train(const float* x, size_t n) {
  std::unique_lock lock(mu_);
  guard("train", [&] { index_->train(static_cast<idx_t>(n), x); });
  publish();
}

void VectorIndex::add(const float* x, size_t n, const int64_t* ids) {
  std::unique_lock lock(mu_);
  if (!index_->is_trained) throw Error("ERR_INDEX_NOT_TRAINED", "this index must be trained before vectors are added");
  std::vector<idx_t> assigned;
  if (!ids) {
    assigned.resize(n);
    for (size_t i = 0; i < n; ++i) assigned[i] = next_id_ + static_cast<int64_t>(i);
    ids = assigned.data();
  }
  try {
    guard("add", [&] { index_->add_with_ids(static_cast<idx_t>(n), x, ids); });
  } catch (...) {
    publish();
    throw;
  }
  for (size_t i = 0; i < n; ++i) next_id_ = std::max(next_id_, ids[i] + 1);
  publish();
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
  if (p.k_factor != 0 && !(p.k_factor >= 1 && p.k_factor <= 4096))
    throw Error("ERR_OUT_OF_RANGE", "kFactor must be between 1 and 4096, got " + std::to_string(p.k_factor));
  if (p.k_factor > 0 && static_cast<double>(k) * p.k_factor > static_cast<double>(1 << 24))
    throw Error("ERR_OUT_OF_RANGE", "k * kFactor must be at most 2^24");
  // A single query runs on the calling thread alone: FAISS would start an OpenMP team for it (HNSW
  // even allocates a visited table per team member), and every libuv thread that searches would
  // keep a team of its own spinning on the same cores.
  OmpThreads one(nq == 1 ? 1 : 0);
  // Search-time knobs go in per-call SearchParameters, so concurrent searches with different
  // settings share the lock instead of queueing for it.
  std::shared_lock lock(mu_);
  // FAISS 1.7's IDMap refuses SearchParameters: search the wrapped index and map ids here.
  auto* idmap = dynamic_cast<faiss::IndexIDMap*>(index_.get());
  faiss::Index* target = idmap ? idmap->index : index_.get();
  ParamChain chain;
  const faiss::SearchParameters* params = chain.build(target, p);
  if (p.nprobe > 0 && !chain.used_nprobe)
    throw Error("ERR_INDEX_UNSUPPORTED", "nprobe applies to IVF indexes (also under OPQ, refine or id map) only");
  if (p.ef_search > 0 && !chain.used_ef)
    throw Error("ERR_INDEX_UNSUPPORTED", "efSearch applies to HNSW indexes and IVF indexes with an HNSW quantizer only");
  if (p.k_factor > 0 && !chain.used_k_factor)
    throw Error("ERR_INDEX_UNSUPPORTED", CROSSRANK_FAISS_MODERN ? "kFactor applies to refined indexes (…,RFlat or Refine(…)) only"
                                                                : "kFactor needs FAISS 1.8 or newer");
  const auto n = static_cast<idx_t>(nq);
  const auto kk = static_cast<idx_t>(k);
  guard("search", [&] {
    if (!params || !idmap) {
      index_->search(n, q, kk, scores, ids, params);
      return;
    }
    target->search(n, q, kk, scores, ids, params);
    for (size_t i = 0; i < nq * k; ++i)
      if (ids[i] >= 0) ids[i] = idmap->id_map[static_cast<size_t>(ids[i])];
  });
}

size_t VectorIndex::remove(const int64_t* ids, size_t n) {
  std::unique_lock lock(mu_);
  faiss::IDSelectorBatch sel(n, ids);
  size_t removed = 0;
  try {
    removed = index_->remove_ids(sel);
  } catch (const faiss::FaissException& e) {
    throw Error("ERR_INDEX_UNSUPPORTED", std::string("this index cannot remove vectors: ") + e.what());
  }
  publish();
  return removed;
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
