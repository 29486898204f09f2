#include "index/bm25.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace crossrank::index {

namespace {

uint32_t long_to_int4(uint64_t i) {
  const int bits = i == 0 ? 0 : 64 - __builtin_clzll(i);
  if (bits < 4) return static_cast<uint32_t>(i);  // subnormal
  const int shift = bits - 4;
  uint32_t enc = static_cast<uint32_t>(i >> shift) & 0x07;  // drop the implicit leading bit
  return enc | static_cast<uint32_t>(shift + 1) << 3;
}

uint64_t int4_to_long(uint32_t i) {
  const uint64_t bits = i & 0x07;
  const int shift = static_cast<int>(i >> 3) - 1;
  return shift == -1 ? bits : (bits | 0x08) << shift;
}

const uint32_t kMaxInt4 = long_to_int4(0x7fffffff);
const uint32_t kFreeValues = 255 - kMaxInt4;

// File: magic "CRBM25\0" + version byte; k1, b (f32); stemmer (u32 length + bytes); stopwords
// (u8); [2: block size (u32)]; n (u64); n norm bytes; n deleted flags; total length (u64); term
// count (u64); per term: text (u32 length + bytes), posting count (u64), postings (u32 doc, u32 tf)
// in increasing doc order, [2: per block of the list: impact count (u8) and impacts (u32 tf,
// u8 norm); the list's impact count (u16) and impacts]. Little-endian, as written by this machine.
constexpr char kMagic[7] = {'C', 'R', 'B', 'M', '2', '5', '\0'};
constexpr char kVersion = '2';

template <typename T>
void put(std::ofstream& o, const T& v) { o.write(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::ofstream& o, const std::string& s) {
  put(o, static_cast<uint32_t>(s.size()));
  o.write(s.data(), static_cast<std::streamsize>(s.size()));
}
void put_impacts(std::ofstream& o, const Bm25Index::Impact* f, const Bm25Index::Impact* end) {
  for (; f != end; ++f) {
    put(o, f->tf);
    put(o, f->norm);
  }
}

// Reads a file whose size is known up front: every read is checked against what is left, so a
// count read from the file can be compared with the bytes that could hold it before allocating.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    std::error_code ec;
    if (!in_ || (size_ = std::filesystem::file_size(path, ec), ec)) throw Error("ERR_INDEX_IO", "cannot open BM25 index " + path);
  }
  [[noreturn]] void corrupt(const std::string& what) const {
    throw Error("ERR_CORRUPT_INDEX", path_ + ": corrupt BM25 index: " + what + " (at byte " + std::to_string(pos_) + " of " + std::to_string(size_) + ")");
  }
  uint64_t left() const { return size_ - pos_; }
  void bytes(void* dst, uint64_t n, const char* what) {
    if (n > left()) corrupt(std::string("truncated in ") + what + ": " + std::to_string(n) + " bytes needed, " + std::to_string(left()) + " left");
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in_) throw Error("ERR_INDEX_IO", "cannot read " + path_);
    pos_ += n;
  }
  template <typename T>
  T get(const char* what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  // A count of items of at least `min_bytes` each, checked against the bytes left and `max`.
  uint64_t count(const char* what, uint64_t min_bytes, uint64_t max) {
    const uint64_t n = get<uint64_t>(what);
    if (n > max || n > left() / min_bytes) corrupt(std::string(what) + " " + std::to_string(n) + " cannot be right (" + std::to_string(left()) + " bytes left)");
    return n;
  }
  std::string str(const char* what, uint32_t max) {
    const uint32_t n = get<uint32_t>(what);
    if (n > max || n > left()) corrupt(std::string(what) + " of length " + std::to_string(n) + " cannot be right");
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
  uint64_t pos_ = 0;
};

}  // namespace

uint8_t int_to_byte4(uint32_t i) {
  if (i < kFreeValues) return static_cast<uint8_t>(i);
  return static_cast<uint8_t>(kFreeValues + long_to_int4(i - kFreeValues));
}

uint32_t byte4_to_int(uint8_t b) {
  if (b < kFreeValues) return b;
  return static_cast<uint32_t>(kFreeValues + int4_to_long(b - kFreeValues));
}

Bm25Index::Bm25Index(Bm25Params params, AnalyzerOptions analyzer) : params_(params), analyzer_(std::move(analyzer)) {}

uint32_t Bm25Index::add(const std::vector<std::string>& texts, unsigned threads) {
  const size_t n = texts.size();
  // Analysis (the expensive part) runs in parallel; each doc becomes sorted (term, tf) runs.
  std::vector<std::vector<std::pair<std::string, uint32_t>>> docs(n);
  std::vector<uint32_t> lens(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<std::string> toks;
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      toks.clear();
      analyzer_.analyze(texts[i], toks);
      lens[i] = static_cast<uint32_t>(toks.size());
      std::sort(toks.begin(), toks.end());
      auto& d = docs[i];
      for (size_t a = 0; a < toks.size();) {
        size_t b = a;
        while (b < toks.size() && toks[b] == toks[a]) ++b;
        d.emplace_back(std::move(toks[a]), static_cast<uint32_t>(b - a));
        a = b;
      }
    }
  };
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(n / 64 + 1)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  std::unique_lock lock(mu_);
  const uint32_t first = static_cast<uint32_t>(norms_.size());
  if (static_cast<uint64_t>(first) + n > 0xffffffffull) throw Error("ERR_INDEX_FULL", "a BM25 index holds at most 2^32-1 documents");
  std::vector<std::pair<uint32_t, size_t>> grown;  // (term, its list's length before this batch)
  for (size_t i = 0; i < n; ++i) {
    const uint32_t doc = first + static_cast<uint32_t>(i);
    for (auto& [term, tf] : docs[i]) {
      auto [it, inserted] = vocab_.try_emplace(term, static_cast<uint32_t>(terms_.size()));
      if (inserted) {
        terms_.push_back(term);
        postings_.emplace_back();
        bounds_.emplace_back();
      }
      auto& pl = postings_[it->second];
      if (pl.empty() || pl.back().doc < first) grown.emplace_back(it->second, pl.size());
      pl.push_back(Posting{doc, tf});
    }
    norms_.push_back(int_to_byte4(lens[i]));
    deleted_.push_back(0);
    total_len_ += lens[i];
    with_terms_ += lens[i] > 0;
  }
  for (auto [term, from] : grown) rebuild_bounds(term, from);
  return first;
}

uint32_t Bm25Index::remove(const std::vector<uint32_t>& docs) {
  std::unique_lock lock(mu_);
  for (uint32_t d : docs)  // all checked first: an unknown number removes nothing
    if (d >= deleted_.size()) throw Error("ERR_OUT_OF_RANGE", "no document " + std::to_string(d) + " in this BM25 index of " + std::to_string(deleted_.size()) + ": nothing removed");
  uint32_t removed = 0;
  for (uint32_t d : docs) {
    if (!deleted_[d]) {
      deleted_[d] = 1;
      ++n_deleted_;
      ++removed;
    }
  }
  return removed;
}

namespace {

inline float term_score(float weight, uint32_t tf, float c) {
  return weight - weight / (1.0f + static_cast<float>(tf) * c);
}

using Impact = Bm25Index::Impact;
using Posting = Bm25Index::Posting;

// Pareto frontier of `pairs` (high tf, low norm): norm strictly increasing, tf strictly increasing.
void frontier_of(std::vector<Impact>& pairs, std::vector<Impact>& out) {
  std::sort(pairs.begin(), pairs.end(), [](const Impact& x, const Impact& y) { return x.norm < y.norm || (x.norm == y.norm && x.tf > y.tf); });
  uint32_t best = 0;
  for (const Impact& p : pairs)
    if (p.tf > best) {
      out.push_back(p);
      best = p.tf;
    }
}

// The largest score any (tf, norm) pair under the frontier can have: the score is increasing in
// tf and in cache[norm] (cache decreases with norm), and so is its float evaluation.
float frontier_max(const Impact* f, const Impact* end, float weight, const float* cache) {
  float m = 0.0f;
  for (; f != end; ++f) m = std::max(m, term_score(weight, f->tf, cache[f->norm]));
  return m;
}

// Whether (tf, norm) is under the frontier (some pair has norm <= and tf >=).
bool dominated(const Impact* f, const Impact* end, uint32_t tf, uint8_t norm) {
  const Impact* best = nullptr;
  for (; f != end && f->norm <= norm; ++f) best = f;
  return best && best->tf >= tf;
}

bool better(const Hit& x, const Hit& y) { return x.score > y.score || (x.score == y.score && x.doc < y.doc); }

}  // namespace

void Bm25Index::rebuild_bounds(uint32_t term, size_t from_posting) {
  const auto& pl = postings_[term];
  Bounds& bd = bounds_[term];
  const size_t first_block = from_posting / kBlock;
  bd.off.resize(first_block + 1);
  bd.impacts.resize(bd.off.back());
  std::vector<Impact> pairs;
  for (size_t b = first_block; b * kBlock < pl.size(); ++b) {
    pairs.clear();
    for (size_t i = b * kBlock; i < std::min(pl.size(), (b + 1) * kBlock); ++i) pairs.push_back(Impact{pl[i].tf, norms_[pl[i].doc]});
    frontier_of(pairs, bd.impacts);
    bd.off.push_back(static_cast<uint32_t>(bd.impacts.size()));
  }
  // The old list frontier covers postings that are all still there; merge the new blocks in.
  pairs.assign(bd.list.begin(), bd.list.end());
  pairs.insert(pairs.end(), bd.impacts.begin() + bd.off[first_block], bd.impacts.end());
  bd.list.clear();
  frontier_of(pairs, bd.list);
}

std::vector<Hit> Bm25Index::search(std::string_view query, size_t k, bool exhaustive) const {
  std::vector<std::string> toks;
  analyzer_.analyze(query, toks);
  std::sort(toks.begin(), toks.end());
  std::shared_lock lock(mu_);
  if (norms_.empty() || k == 0 || with_terms_ == 0) return {};
  return exhaustive ? search_exhaustive(toks, k) : search_pruned(toks, k);
}

namespace {
// A query ready to score. Lucene: docCount (documents with at least one term) and
// sumTotalTermFreq over every indexed document, deleted ones included; cache[norm] holds
// 1 / (k1 * ((1 - b) + b * dl / avgdl)) as Lucene's BM25Scorer caches it.
//
// A document's score is the sum of its terms' float scores, added in fixed point (each term's
// score scaled by 2^shift and truncated to an integer, the sum rounded once to float): integer
// addition does not depend on the order, so the pruned search, which visits a document's terms in
// any order, gets the very same float as the exhaustive one. `shift` keeps the largest possible
// sum (all weights) under 2^61; the resolution is far finer than a float's.
struct Query {
  struct Term {
    const std::vector<Posting>* list;
    float weight;
  };
  std::vector<Term> terms;  // distinct, in sorted order
  float cache[256];
  float scale = 1.0f;
  float inv_scale = 1.0f;

  int64_t fixed(float s) const { return static_cast<int64_t>(s * scale); }
  float finish(int64_t sum) const { return static_cast<float>(sum) * inv_scale; }
};

template <typename Vocab, typename Lists>
void prepare(Query& q, const std::vector<std::string>& toks, const Vocab& vocab, const Lists& postings, uint64_t with_terms,
             uint64_t total_len, const Bm25Params& params) {
  const double doc_count = static_cast<double>(with_terms);
  const float avgdl = static_cast<float>(static_cast<double>(total_len) / doc_count);
  for (int i = 0; i < 256; ++i)
    q.cache[i] = 1.0f / (params.k1 * ((1 - params.b) + params.b * static_cast<float>(byte4_to_int(static_cast<uint8_t>(i))) / avgdl));
  double total = 0;
  for (size_t a = 0; a < toks.size();) {
    size_t b = a;
    while (b < toks.size() && toks[b] == toks[a]) ++b;
    const float boost = static_cast<float>(b - a);  // Anserini's bag-of-words query: boost = count
    auto it = vocab.find(toks[a]);
    a = b;
    if (it == vocab.end()) continue;
    const auto& plist = postings[it->second];
    const double df = static_cast<double>(plist.size());
    const float idf = static_cast<float>(std::log(1.0 + (doc_count - df + 0.5) / (df + 0.5)));
    q.terms.push_back(Query::Term{&plist, boost * idf});
    total += static_cast<double>(boost * idf);
  }
  int e = 0;
  std::frexp(total * (1 + 1e-9) + 1e-30, &e);  // total < 2^e
  const int shift = std::clamp(61 - e, -100, 100);
  q.scale = std::ldexp(1.0f, shift);
  q.inv_scale = std::ldexp(1.0f, -shift);
}
}  // namespace

std::vector<Hit> Bm25Index::search_exhaustive(const std::vector<std::string>& toks, size_t k) const {
  Query q;
  prepare(q, toks, vocab_, postings_, with_terms_, total_len_, params_);
  const size_t n = norms_.size();
  thread_local std::vector<int64_t> acc;
  thread_local std::vector<uint32_t> touched;
  thread_local std::vector<uint8_t> seen;
  if (acc.size() < n) {
    acc.assign(n, 0);
    seen.assign(n, 0);
  }
  touched.clear();
  for (const Query::Term& t : q.terms) {
    for (const Posting& p : *t.list) {
      const float s = term_score(t.weight, p.tf, q.cache[norms_[p.doc]]);
      if (!seen[p.doc]) {
        seen[p.doc] = 1;
        touched.push_back(p.doc);
      }
      acc[p.doc] += q.fixed(s);
    }
  }
  std::vector<Hit> hits;
  hits.reserve(touched.size());
  for (uint32_t d : touched) {
    if (!deleted_[d]) hits.push_back(Hit{d, q.finish(acc[d])});
    acc[d] = 0;
    seen[d] = 0;
  }
  if (hits.size() > k) {
    std::partial_sort(hits.begin(), hits.begin() + static_cast<ptrdiff_t>(k), hits.end(), better);
    hits.resize(k);
  } else {
    std::sort(hits.begin(), hits.end(), better);
  }
  return hits;
}

// MaxScore over windows of document numbers, with block-max bounds (the scheme of Lucene's
// MaxScoreBulkScorer). For each window, every term's bound is the largest bound of its blocks
// that overlap the window; terms sorted by that bound, the longest prefix whose bounds sum to at
// most the k-th best score so far is "non-essential": a document only they contain cannot enter
// the top k. The essential terms are scored term at a time into the window's accumulators; each
// document they reach is then completed with the non-essential terms, highest bound first, as
// long as its partial score plus the remaining bounds could still beat the k-th score.
// Scores and bounds are added in the same fixed point (see Query), so a bound is never below the
// score it bounds and a completed document has exactly its exhaustive score. Documents come in
// increasing order: a newcomer loses ties to everything in the heap, so it enters only with a
// strictly higher score than the k-th.
std::vector<Hit> Bm25Index::search_pruned(const std::vector<std::string>& toks, size_t k) const {
  Query q;
  prepare(q, toks, vocab_, postings_, with_terms_, total_len_, params_);
  const size_t m = q.terms.size();
  if (m == 0) return {};
  // Windows start small (the first is scored before there is a threshold) and double up to
  // kMaxWindow documents: 512 KiB of accumulators, which stay in cache.
  constexpr uint32_t kFirstWindow = 4096, kMaxWindow = 65536;
  uint32_t window = kFirstWindow;
  struct Cursor {
    const Posting* begin;
    const Posting* p;
    const Posting* end;
    const Bounds* bd;
    float weight;
    size_t block;          // the block holding p (or the last one)
    int64_t list_ub;       // bound of the whole list
    int64_t win_ub;        // bound over the current window
    std::vector<int64_t> block_ub;  // per block, -1 until computed
  };
  std::vector<Cursor> cur(m);
  for (size_t i = 0; i < m; ++i) {
    const auto& pl = *q.terms[i].list;
    Cursor& c = cur[i];
    c.begin = c.p = pl.data();
    c.end = pl.data() + pl.size();
    c.bd = &bounds_[static_cast<size_t>(q.terms[i].list - postings_.data())];
    c.weight = q.terms[i].weight;
    c.block = 0;
    c.list_ub = q.fixed(frontier_max(c.bd->list.data(), c.bd->list.data() + c.bd->list.size(), c.weight, q.cache));
    c.block_ub.assign(c.bd->off.size() - 1, -1);
  }
  auto block_ub = [&](Cursor& c, size_t b) {
    int64_t& u = c.block_ub[b];
    if (u < 0) {
      const Impact* f = c.bd->impacts.data();
      u = q.fixed(frontier_max(f + c.bd->off[b], f + c.bd->off[b + 1], c.weight, q.cache));
    }
    return u;
  };
  auto block_last = [&](const Cursor& c, size_t b) {
    return c.begin[std::min<size_t>((b + 1) * kBlock, static_cast<size_t>(c.end - c.begin)) - 1].doc;
  };
  // Moves c to its first posting >= d (c.end when none).
  auto seek = [&](Cursor& c, uint32_t d) {
    if (c.p == c.end || c.p->doc >= d) return;
    // Close targets (the usual case for a dense list) by a short linear step.
    for (int i = 0; i < 8; ++i) {
      if (++c.p == c.end || c.p->doc >= d) {
        c.block = static_cast<size_t>(c.p - c.begin) / kBlock;
        if (c.block >= c.block_ub.size()) c.block = c.block_ub.size() - 1;
        return;
      }
    }
    const size_t nb = c.block_ub.size();
    while (c.block + 1 < nb && block_last(c, c.block) < d) ++c.block;
    const Posting* from = std::max(c.p, c.begin + c.block * kBlock);
    const Posting* to = std::min(c.end, c.begin + (c.block + 1) * kBlock);
    c.p = std::lower_bound(from, to, d, [](const Posting& x, uint32_t v) { return x.doc < v; });
    if (c.p == to && to != c.end) ++c.block;  // only when d is past the last block
  };

  float theta = -std::numeric_limits<float>::infinity();
  auto cannot_beat = [&](int64_t bound) { return q.finish(bound) <= theta; };
  std::vector<Hit> heap;
  heap.reserve(std::min<size_t>(k, norms_.size()));
  auto offer = [&](uint32_t d, float score) {
    if (heap.size() < k) {
      heap.push_back(Hit{d, score});
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (score > theta) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = Hit{d, score};
      std::push_heap(heap.begin(), heap.end(), better);
    } else {
      return;
    }
    if (heap.size() == k) theta = heap.front().score;
  };

  // Terms in increasing order of list bound: a prefix whose bounds sum to <= theta never matters.
  std::vector<uint32_t> by_list(m);
  for (uint32_t i = 0; i < m; ++i) by_list[i] = i;
  std::sort(by_list.begin(), by_list.end(), [&](uint32_t x, uint32_t y) { return cur[x].list_ub < cur[y].list_ub; });

  std::vector<int64_t> acc(kMaxWindow, 0);
  std::vector<uint64_t> hit_bits(kMaxWindow / 64, 0);
  std::vector<uint32_t> order(m);
  uint32_t lo = 0;
  while (true) {
    // Terms that can still matter, and the first document any of them holds from lo on.
    size_t skip_terms = 0;
    for (int64_t sum = 0; skip_terms < m && cannot_beat(sum + cur[by_list[skip_terms]].list_ub); ++skip_terms) sum += cur[by_list[skip_terms]].list_ub;
    if (skip_terms == m) break;
    uint32_t first = UINT32_MAX;
    for (size_t j = skip_terms; j < m; ++j) {
      Cursor& c = cur[by_list[j]];
      seek(c, lo);
      if (c.p != c.end) first = std::min(first, c.p->doc);
    }
    if (first == UINT32_MAX) break;
    lo = first;
    const uint32_t hi = lo + std::min<uint32_t>(window, UINT32_MAX - lo);
    // Window bounds and the split into non-essential (order[0..ne)) and essential terms. The
    // skipped terms take part too: a document they hold needs their score to be complete.
    size_t live_terms = 0;
    for (size_t j = 0; j < m; ++j) {
      Cursor& c = cur[by_list[j]];
      if (j < skip_terms) seek(c, lo);
      c.win_ub = 0;
      if (c.p == c.end || c.p->doc >= hi) continue;
      for (size_t b = c.block; b < c.block_ub.size() && c.begin[b * kBlock].doc < hi; ++b) c.win_ub = std::max(c.win_ub, block_ub(c, b));
      order[live_terms++] = by_list[j];
    }
    std::sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(live_terms), [&](uint32_t x, uint32_t y) { return cur[x].win_ub < cur[y].win_ub; });
    size_t ne = 0;
    int64_t ne_sum = 0;
    // Non-essential terms: bounds summing to at most half the threshold (not all of it, as plain
    // MaxScore has it). A candidate then needs more than half the threshold from the essential
    // terms, which most documents lack, so they are dropped before any probe; scoring a few more
    // postings term at a time in the cache-resident window costs less than the probes saved.
    while (ne < live_terms && q.finish(ne_sum + cur[order[ne]].win_ub) <= 0.5f * theta) ne_sum += cur[order[ne++]].win_ub;
    if (ne < live_terms) {
      // Essential terms, term at a time, into the window's accumulators.
      for (size_t j = ne; j < live_terms; ++j) {
        Cursor& c = cur[order[j]];
        for (; c.p != c.end && c.p->doc < hi; ++c.p) {
          const uint32_t o = c.p->doc - lo;
          acc[o] += q.fixed(term_score(c.weight, c.p->tf, q.cache[norms_[c.p->doc]]));
          hit_bits[o >> 6] |= uint64_t{1} << (o & 63);
        }
        c.block = static_cast<size_t>(c.p - c.begin) / kBlock;
        if (c.block >= c.block_ub.size()) c.block = c.block_ub.size() - 1;
      }
      for (uint32_t w = 0; w < (window + 63) / 64; ++w) {
        for (uint64_t bits = hit_bits[w]; bits != 0; bits &= bits - 1) {
          const uint32_t o = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
          const uint32_t d = lo + o;
          int64_t partial = acc[o];
          acc[o] = 0;
          if (deleted_[d]) continue;
          int64_t rest = ne_sum;
          bool out = false;
          for (size_t j = ne; j-- > 0;) {
            if (cannot_beat(partial + rest)) {
              out = true;
              break;
            }
            Cursor& c = cur[order[j]];
            rest -= c.win_ub;
            seek(c, d);
            if (c.p != c.end && c.p->doc == d) partial += q.fixed(term_score(c.weight, c.p->tf, q.cache[norms_[d]]));
          }
          if (!out) offer(d, q.finish(partial));
        }
        hit_bits[w] = 0;
      }
    }
    if (hi == UINT32_MAX) break;
    lo = hi;
    window = std::min(kMaxWindow, window * 2);
  }
  std::sort(heap.begin(), heap.end(), better);
  return heap;
}

void Bm25Index::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o) throw Error("ERR_INDEX_IO", "cannot write " + tmp);
    o.write(kMagic, sizeof kMagic);
    o.put(kVersion);
    put(o, params_.k1);
    put(o, params_.b);
    put_str(o, analyzer_.options().stemmer);
    put(o, static_cast<uint8_t>(analyzer_.options().stopwords));
    put(o, kBlock);
    put(o, static_cast<uint64_t>(norms_.size()));
    o.write(reinterpret_cast<const char*>(norms_.data()), static_cast<std::streamsize>(norms_.size()));
    o.write(reinterpret_cast<const char*>(deleted_.data()), static_cast<std::streamsize>(deleted_.size()));
    put(o, total_len_);
    put(o, static_cast<uint64_t>(terms_.size()));
    for (size_t t = 0; t < terms_.size(); ++t) {
      put_str(o, terms_[t]);
      put(o, static_cast<uint64_t>(postings_[t].size()));
      o.write(reinterpret_cast<const char*>(postings_[t].data()), static_cast<std::streamsize>(postings_[t].size() * sizeof(Posting)));
      const Bounds& bd = bounds_[t];
      for (size_t b = 0; b + 1 < bd.off.size(); ++b) {
        put(o, static_cast<uint8_t>(bd.off[b + 1] - bd.off[b]));
        put_impacts(o, bd.impacts.data() + bd.off[b], bd.impacts.data() + bd.off[b + 1]);
      }
      put(o, static_cast<uint16_t>(bd.list.size()));
      put_impacts(o, bd.list.data(), bd.list.data() + bd.list.size());
    }
    o.flush();
    if (!o) throw Error("ERR_INDEX_IO", "cannot write " + tmp);
  }
  if (FILE* f = std::fopen(tmp.c_str(), "rb")) {
    ::fsync(fileno(f));
    std::fclose(f);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("ERR_INDEX_IO", "cannot move " + tmp + " over " + path + ": " + ec.message());
}

namespace {
// Reads `count` impacts (1 <= count <= max) that form a frontier: norm and tf strictly increasing.
void read_frontier(Reader& in, size_t count, size_t max, std::vector<Impact>& out, const std::string& where) {
  if (count == 0 || count > max) in.corrupt(where + ": " + std::to_string(count) + " impacts");
  const size_t first = out.size();
  for (size_t i = 0; i < count; ++i) {
    Impact f;
    f.tf = in.get<uint32_t>("impacts");
    f.norm = in.get<uint8_t>("impacts");
    if (f.tf == 0 || (i > 0 && (f.norm <= out.back().norm || f.tf <= out.back().tf))) in.corrupt(where + ": impacts out of order");
    out.push_back(f);
  }
  (void)first;
}
}  // namespace

std::unique_ptr<Bm25Index> Bm25Index::load(const std::string& path) {
  Reader in(path);
  char magic[sizeof kMagic + 1];
  if (in.left() < sizeof magic) in.corrupt("shorter than its header");
  in.bytes(magic, sizeof magic, "magic");
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) in.corrupt("not a crossrank BM25 index (bad magic)");
  const char version = magic[sizeof kMagic];
  if (version != '1' && version != kVersion)
    in.corrupt(std::string("format version '") + version + "' is not one this build reads (1 or 2)");
  Bm25Params p;
  p.k1 = in.get<float>("k1");
  p.b = in.get<float>("b");
  if (!std::isfinite(p.k1) || p.k1 < 0 || !(p.b >= 0 && p.b <= 1)) in.corrupt("parameters k1 " + std::to_string(p.k1) + ", b " + std::to_string(p.b) + " out of range");
  AnalyzerOptions ao;
  ao.stemmer = in.str("stemmer name", 64);
  if (ao.stemmer != "porter" && ao.stemmer != "english" && ao.stemmer != "none") in.corrupt("unknown stemmer");
  const uint8_t stop = in.get<uint8_t>("stopwords flag");
  if (stop > 1) in.corrupt("stopwords flag " + std::to_string(stop));
  ao.stopwords = stop != 0;
  if (version == kVersion && in.get<uint32_t>("block size") != kBlock) in.corrupt("block size is not " + std::to_string(kBlock));
  auto idx = std::make_unique<Bm25Index>(p, ao);
  const uint64_t n = in.count("document count", 2, 0xffffffffull);
  idx->norms_.resize(n);
  idx->deleted_.resize(n);
  in.bytes(idx->norms_.data(), n, "norms");
  in.bytes(idx->deleted_.data(), n, "deletion flags");
  uint64_t len_lo = 0, len_hi = 0;  // what the lossy norms allow the total length to be
  for (uint64_t d = 0; d < n; ++d) {
    if (idx->deleted_[d] > 1) in.corrupt("deletion flag of document " + std::to_string(d) + " is " + std::to_string(idx->deleted_[d]));
    idx->n_deleted_ += idx->deleted_[d];
    const uint8_t b = idx->norms_[d];
    idx->with_terms_ += b > 0;
    len_lo += byte4_to_int(b);
    len_hi += b == 255 ? 0xffffffffull : byte4_to_int(static_cast<uint8_t>(b + 1)) - 1;
  }
  idx->total_len_ = in.get<uint64_t>("total length");
  if (idx->total_len_ < len_lo || idx->total_len_ > len_hi)
    in.corrupt("total length " + std::to_string(idx->total_len_) + " does not fit the document norms (" + std::to_string(len_lo) + ".." + std::to_string(len_hi) + ")");
  const uint64_t nt = in.count("term count", 4 + 8 + sizeof(Posting), 0xffffffffull);
  idx->terms_.reserve(nt);
  idx->postings_.resize(nt);
  idx->bounds_.resize(nt);
  idx->vocab_.reserve(nt);
  for (uint64_t t = 0; t < nt; ++t) {
    const std::string where = "term " + std::to_string(t);
    std::string term = in.str("term text", 1u << 20);
    if (term.empty()) in.corrupt(where + " is empty");
    if (!idx->vocab_.emplace(term, static_cast<uint32_t>(t)).second) in.corrupt(where + " repeats an earlier term");
    idx->terms_.push_back(std::move(term));
    const uint64_t np = in.count("posting count", sizeof(Posting), n);
    if (np == 0) in.corrupt(where + " has no postings");
    auto& pl = idx->postings_[t];
    pl.resize(np);
    in.bytes(pl.data(), np * sizeof(Posting), "postings");
    for (uint64_t i = 0; i < np; ++i) {
      const Posting& q = pl[i];
      if (q.doc >= n) in.corrupt(where + ": posting " + std::to_string(i) + " names document " + std::to_string(q.doc) + " of " + std::to_string(n));
      if (i > 0 && q.doc <= pl[i - 1].doc) in.corrupt(where + ": postings not in increasing document order at " + std::to_string(i));
      const uint8_t b = idx->norms_[q.doc];
      const uint64_t max_len = b == 255 ? 0xffffffffull : byte4_to_int(static_cast<uint8_t>(b + 1)) - 1;
      if (q.tf == 0 || q.tf > max_len)
        in.corrupt(where + ": frequency " + std::to_string(q.tf) + " in document " + std::to_string(q.doc) + " whose length is at most " + std::to_string(max_len));
    }
    if (version == '1') {
      idx->rebuild_bounds(static_cast<uint32_t>(t), 0);
      continue;
    }
    // Stored bounds: each must be a frontier that covers every posting of its block, and the
    // list's must cover every block's, or the pruned search could miss a document.
    Bounds& bd = idx->bounds_[t];
    const size_t nb = (np + kBlock - 1) / kBlock;
    bd.off.reserve(nb + 1);
    for (size_t b = 0; b < nb; ++b) {
      read_frontier(in, in.get<uint8_t>("block impact count"), kBlock, bd.impacts, where + " block " + std::to_string(b));
      bd.off.push_back(static_cast<uint32_t>(bd.impacts.size()));
      const Impact* f = bd.impacts.data() + bd.off[b];
      const Impact* fe = bd.impacts.data() + bd.off[b + 1];
      for (size_t i = b * kBlock; i < std::min<size_t>(np, (b + 1) * kBlock); ++i)
        if (!dominated(f, fe, pl[i].tf, idx->norms_[pl[i].doc])) in.corrupt(where + " block " + std::to_string(b) + ": bound below posting " + std::to_string(i));
    }
    read_frontier(in, in.get<uint16_t>("list impact count"), 256, bd.list, where + " list bound");
    for (const Impact& f : bd.impacts)
      if (!dominated(bd.list.data(), bd.list.data() + bd.list.size(), f.tf, f.norm)) in.corrupt(where + ": list bound below a block bound");
  }
  if (in.left() != 0) in.corrupt(std::to_string(in.left()) + " unexpected bytes after the last term");
  return idx;
}

uint32_t Bm25Index::size() const {
  std::shared_lock lock(mu_);
  return static_cast<uint32_t>(norms_.size());
}

uint32_t Bm25Index::live() const {
  std::shared_lock lock(mu_);
  return static_cast<uint32_t>(norms_.size()) - n_deleted_;
}

size_t Bm25Index::terms() const {
  std::shared_lock lock(mu_);
  return terms_.size();
}

}  // namespace crossrank::index
