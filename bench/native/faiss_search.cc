// The baseline for bench/search: FAISS called directly from C++ on the same index file and
// queries, one query per call (as a server does), same search parameters.
//   faiss_search INDEX QUERIES.f32 DIM K REPS [nprobe] [efSearch] [IDS.i64]  ->  prints median µs
//   per query; IDS.i64 receives every query's k result ids (int64, row-major).
// Built against Debian's libfaiss 1.7.3 and against the FAISS 1.15 the addon links.
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

static faiss::Index* core(faiss::Index* idx) {
  if (auto* m = dynamic_cast<faiss::IndexIDMap*>(idx)) return m->index;
  return idx;
}

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s INDEX QUERIES DIM K REPS [nprobe] [efSearch]\n", argv[0]);
    return 2;
  }
  std::unique_ptr<faiss::Index> idx(faiss::read_index(argv[1]));
  const int dim = std::atoi(argv[3]), k = std::atoi(argv[4]), reps = std::atoi(argv[5]);
  if (argc > 6 && std::atoi(argv[6]) > 0) dynamic_cast<faiss::IndexIVF*>(core(idx.get()))->nprobe = std::atoi(argv[6]);
  if (argc > 7 && std::atoi(argv[7]) > 0) dynamic_cast<faiss::IndexHNSW*>(core(idx.get()))->hnsw.efSearch = std::atoi(argv[7]);
  std::ifstream in(argv[2], std::ios::binary | std::ios::ate);
  const size_t bytes = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::vector<float> queries(bytes / sizeof(float));
  in.read(reinterpret_cast<char*>(queries.data()), static_cast<std::streamsize>(bytes));
  const size_t nq = queries.size() / static_cast<size_t>(dim);
  std::vector<float> d(k);
  std::vector<int64_t> l(k);
  std::vector<double> times;
  std::vector<int64_t> all_ids;
  for (size_t i = 0; i < nq; ++i) {  // warm-up pass, which also records the results
    idx->search(1, queries.data() + i * dim, k, d.data(), l.data());
    all_ids.insert(all_ids.end(), l.begin(), l.end());
  }
  if (argc > 8) {
    std::ofstream out(argv[8], std::ios::binary);
    out.write(reinterpret_cast<const char*>(all_ids.data()), static_cast<std::streamsize>(all_ids.size() * sizeof(int64_t)));
  }
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < nq; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      idx->search(1, queries.data() + i * dim, k, d.data(), l.data());
      times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::sort(times.begin(), times.end());
  std::printf("%.3f\n", times[times.size() / 2]);
  return 0;
}
