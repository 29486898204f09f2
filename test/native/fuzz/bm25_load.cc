// Target 4: a BM25 index file from arbitrary bytes. A refusal must be a crossrank::Error; an index
// that loads must answer searches, take new documents and removals.
#include "fuzz_common.h"
#include "index/bm25.h"

using crossrank::index::Bm25Index;

// Where the index has a pruned search beside the exhaustive one, both give the same hits.
template <typename Index>
void compare_pruned(const Index& idx) {
  if constexpr (requires(const Index& i) { i.search("", size_t{1}, true); }) {
    for (const char* q : {"flow", "supersonic boundary layer flow flow", "the heat"})
      fuzz::typed([&] {
        auto pruned = idx.search(q, 3), exhaustive = idx.search(q, 3, true);
        if (pruned.size() != exhaustive.size()) fuzz::fail("pruned search: %zu hits, exhaustive %zu", pruned.size(), exhaustive.size());
        for (size_t i = 0; i < pruned.size(); ++i)
          if (pruned[i].doc != exhaustive[i].doc || pruned[i].score != exhaustive[i].score)
            fuzz::fail("hit %zu: pruned (%u, %g), exhaustive (%u, %g)", i, pruned[i].doc, pruned[i].score, exhaustive[i].doc,
                       exhaustive[i].score);
      });
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file;
  std::unique_ptr<Bm25Index> idx;
  if (!fuzz::typed([&] { idx = Bm25Index::load(file.write(data, size)); })) return 0;
  const uint32_t n = idx->size();
  if (idx->live() > n) fuzz::fail("%u live documents of %u", idx->live(), n);
  static const char* const kQueries[] = {"flow", "supersonic boundary layer flow flow", "the of and", "", "a"};
  auto check = [&](const std::vector<crossrank::index::Hit>& hits, size_t k) {
    if (hits.size() > k) fuzz::fail("%zu hits for k = %zu", hits.size(), k);
    for (const auto& h : hits)
      if (h.doc >= idx->size()) fuzz::fail("hit %u of %u documents", h.doc, idx->size());
  };
  for (const char* q : kQueries)
    for (size_t k : {size_t{0}, size_t{1}, size_t{10}}) fuzz::typed([&] { check(idx->search(q, k), k); });
  compare_pruned(*idx);
  fuzz::typed([&] { idx->remove({0}); });
  fuzz::typed([&] { idx->remove({n}); });
  fuzz::typed([&] {
    idx->add({"supersonic flow over a flat plate", "the boundary layer"}, 1);
    check(idx->search("flow boundary", 5), 5);
  });
  return 0;
}
