#include "index/bm25.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
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

constexpr char kMagic[8] = {'C', 'R', 'B', 'M', '2', '5', '\0', '1'};

template <typename T>
void put(std::ofstream& o, const T& v) { o.write(reinterpret_cast<const char*>(&v), sizeof v); }
template <typename T>
void get(std::ifstream& in, T& v) { in.read(reinterpret_cast<char*>(&v), sizeof v); }
void put_str(std::ofstream& o, const std::string& s) {
  put(o, static_cast<uint32_t>(s.size()));
  o.write(s.data(), static_cast<std::streamsize>(s.size()));
}
std::string get_str(std::ifstream& in) {
  uint32_t n = 0;
  get(in, n);
  if (!in || n > (1u << 20)) throw Error("ERR_INDEX_IO", "corrupt BM25 index file");
  std::string s(n, '\0');
  in.read(s.data(), n);
  return s;
}

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
  for (size_t i = 0; i < n; ++i) {
    const uint32_t doc = first + static_cast<uint32_t>(i);
    for (auto& [term, tf] : docs[i]) {
      auto [it, inserted] = vocab_.try_emplace(term, static_cast<uint32_t>(terms_.size()));
      if (inserted) {
        terms_.push_back(term);
        postings_.emplace_back();
      }
      postings_[it->second].push_back(Posting{doc, tf});
    }
    norms_.push_back(int_to_byte4(lens[i]));
    deleted_.push_back(0);
    total_len_ += lens[i];
    with_terms_ += lens[i] > 0;
  }
  return first;
}

void Bm25Index::remove(const std::vector<uint32_t>& docs) {
  std::unique_lock lock(mu_);
  for (uint32_t d : docs) {
    if (d >= deleted_.size()) throw Error("ERR_OUT_OF_RANGE", "no document " + std::to_string(d) + " in this BM25 index");
    if (!deleted_[d]) {
      deleted_[d] = 1;
      ++n_deleted_;
    }
  }
}

std::vector<Hit> Bm25Index::search(std::string_view query, size_t k) const {
  std::vector<std::string> toks;
  analyzer_.analyze(query, toks);
  std::sort(toks.begin(), toks.end());
  std::shared_lock lock(mu_);
  const size_t n = norms_.size();
  if (n == 0 || k == 0 || with_terms_ == 0) return {};
  // Lucene: docCount (documents with at least one term) and sumTotalTermFreq over every indexed
  // document, deleted ones included.
  const double doc_count = static_cast<double>(with_terms_);
  const float avgdl = static_cast<float>(static_cast<double>(total_len_) / doc_count);
  float cache[256];  // 1 / (k1 * ((1 - b) + b * dl / avgdl)) per norm byte, as Lucene's BM25Scorer
  for (int i = 0; i < 256; ++i)
    cache[i] = 1.0f / (params_.k1 * ((1 - params_.b) + params_.b * static_cast<float>(byte4_to_int(static_cast<uint8_t>(i))) / avgdl));

  thread_local std::vector<float> acc;
  thread_local std::vector<uint32_t> touched;
  thread_local std::vector<uint8_t> seen;
  if (acc.size() < n) {
    acc.assign(n, 0.0f);
    seen.assign(n, 0);
  }
  touched.clear();
  for (size_t a = 0; a < toks.size();) {
    size_t b = a;
    while (b < toks.size() && toks[b] == toks[a]) ++b;
    const float boost = static_cast<float>(b - a);  // Anserini's bag-of-words query: boost = count
    auto it = vocab_.find(toks[a]);
    a = b;
    if (it == vocab_.end()) continue;
    const auto& plist = postings_[it->second];
    const double df = static_cast<double>(plist.size());
    const float idf = static_cast<float>(std::log(1.0 + (doc_count - df + 0.5) / (df + 0.5)));
    const float weight = boost * idf;
    for (const Posting& p : plist) {
      const float s = weight - weight / (1.0f + static_cast<float>(p.tf) * cache[norms_[p.doc]]);
      if (!seen[p.doc]) {
        seen[p.doc] = 1;
        touched.push_back(p.doc);
      }
      acc[p.doc] += s;
    }
  }
  std::vector<Hit> hits;
  hits.reserve(touched.size());
  for (uint32_t d : touched) {
    if (!deleted_[d]) hits.push_back(Hit{d, acc[d]});
    acc[d] = 0.0f;
    seen[d] = 0;
  }
  auto better = [](const Hit& x, const Hit& y) { return x.score > y.score || (x.score == y.score && x.doc < y.doc); };
  if (hits.size() > k) {
    std::partial_sort(hits.begin(), hits.begin() + static_cast<ptrdiff_t>(k), hits.end(), better);
    hits.resize(k);
  } else {
    std::sort(hits.begin(), hits.end(), better);
  }
  return hits;
}

void Bm25Index::save(const std::string& path) const {
  std::shared_lock lock(mu_);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o) throw Error("ERR_INDEX_IO", "cannot write " + tmp);
    o.write(kMagic, sizeof kMagic);
    put(o, params_.k1);
    put(o, params_.b);
    put_str(o, analyzer_.options().stemmer);
    put(o, static_cast<uint8_t>(analyzer_.options().stopwords));
    put(o, static_cast<uint64_t>(norms_.size()));
    o.write(reinterpret_cast<const char*>(norms_.data()), static_cast<std::streamsize>(norms_.size()));
    o.write(reinterpret_cast<const char*>(deleted_.data()), static_cast<std::streamsize>(deleted_.size()));
    put(o, total_len_);
    put(o, static_cast<uint64_t>(terms_.size()));
    for (size_t t = 0; t < terms_.size(); ++t) {
      put_str(o, terms_[t]);
      put(o, static_cast<uint64_t>(postings_[t].size()));
      o.write(reinterpret_cast<const char*>(postings_[t].data()), static_cast<std::streamsize>(postings_[t].size() * sizeof(Posting)));
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

std::unique_ptr<Bm25Index> Bm25Index::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("ERR_INDEX_IO", "cannot open BM25 index " + path);
  char magic[8];
  in.read(magic, sizeof magic);
  if (!in || std::memcmp(magic, kMagic, sizeof magic) != 0) throw Error("ERR_INDEX_IO", path + " is not a crossrank BM25 index");
  Bm25Params p;
  get(in, p.k1);
  get(in, p.b);
  AnalyzerOptions ao;
  ao.stemmer = get_str(in);
  uint8_t stop = 1;
  get(in, stop);
  ao.stopwords = stop != 0;
  auto idx = std::make_unique<Bm25Index>(p, ao);
  // Every count is checked against the bytes left in the file before anything is sized from it.
  const std::streamoff here = in.tellg();
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(here);
  auto left = [&] { return in ? file_size - static_cast<uint64_t>(in.tellg()) : 0; };
  auto corrupt = [&](const std::string& what) { return Error("ERR_INDEX_IO", "corrupt BM25 index file " + path + ": " + what); };
  uint64_t n = 0;
  get(in, n);
  if (!in || n > left() / 2) throw corrupt("document count past the end of the file");
  idx->norms_.resize(n);
  idx->deleted_.resize(n);
  in.read(reinterpret_cast<char*>(idx->norms_.data()), static_cast<std::streamsize>(n));
  in.read(reinterpret_cast<char*>(idx->deleted_.data()), static_cast<std::streamsize>(n));
  for (uint8_t d : idx->deleted_) idx->n_deleted_ += d != 0;
  for (uint8_t b : idx->norms_) idx->with_terms_ += b > 0;
  get(in, idx->total_len_);
  uint64_t nt = 0;
  get(in, nt);
  if (!in) throw Error("ERR_INDEX_IO", "corrupt BM25 index file " + path);
  if (nt > left() / 12) throw corrupt("term count past the end of the file");  // 4-byte length + 8-byte count each
  idx->terms_.reserve(nt);
  idx->postings_.resize(nt);
  for (uint64_t t = 0; t < nt; ++t) {
    idx->terms_.push_back(get_str(in));
    uint64_t np = 0;
    get(in, np);
    if (!in || np > n || np > left() / sizeof(Posting)) throw Error("ERR_INDEX_IO", "corrupt BM25 index file " + path);
    idx->postings_[t].resize(np);
    in.read(reinterpret_cast<char*>(idx->postings_[t].data()), static_cast<std::streamsize>(np * sizeof(Posting)));
    for (const Posting& q : idx->postings_[t])
      if (q.doc >= n) throw corrupt("posting of document " + std::to_string(q.doc) + " of " + std::to_string(n));
    idx->vocab_.emplace(idx->terms_.back(), static_cast<uint32_t>(t));
  }
  if (!in) throw Error("ERR_INDEX_IO", "truncated BM25 index file " + path);
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
