// Target 3: pair (or single) truncation and overflow windowing with arbitrary texts, max_length,
// stride, strategy, direction and window cap, on the fixture tokenizers.
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_common.h"

using crossrank::tok::EncodeOptions;
using crossrank::tok::Truncation;

CROSSRANK_FUZZ_LOAD_TOKENIZERS_FIRST

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const auto& t = fuzz::pick_tokenizer(in);
  EncodeOptions o;
  o.truncate = in.ConsumeIntegralInRange<int>(0, 7) != 0;
  o.max_length = in.ConsumeIntegralInRange<size_t>(0, 40);
  o.stride = in.ConsumeIntegralInRange<size_t>(0, 40);
  o.strategy = static_cast<Truncation>(in.ConsumeIntegralInRange<int>(0, 2));
  o.from_left = in.ConsumeBool();
  o.add_special_tokens = in.ConsumeBool();
  o.utf16_offsets = in.ConsumeBool();
  o.overflow = in.ConsumeBool();
  o.max_windows = in.ConsumeIntegralInRange<size_t>(0, 6);
  const bool pair = in.ConsumeIntegralInRange<int>(0, 3) != 0;
  const std::string a = in.ConsumeRandomLengthString(512);
  const std::string b = in.ConsumeRemainingBytesAsString();
  const std::string_view bv(b);
  const size_t len[2] = {fuzz::text_length(a, o.utf16_offsets), fuzz::text_length(b, o.utf16_offsets)};
  if (std::getenv("FUZZ_VERBOSE"))
    std::fprintf(stderr, "truncate %d max_length %zu stride %zu strategy %d from_left %d specials %d overflow %d max_windows %zu pair %d\n",
                 o.truncate, o.max_length, o.stride, static_cast<int>(o.strategy), o.from_left, o.add_special_tokens, o.overflow,
                 o.max_windows, pair);
  fuzz::typed([&] {
    auto e = t.encode(a, pair ? &bv : nullptr, o);
    fuzz::check_encoding(t, e, len);
    if (!o.truncate) {
      if (!e.overflowing.empty()) fuzz::fail("overflowing windows without truncation");
      return;
    }
    if (e.size() > o.max_length) fuzz::fail("%zu tokens past max_length %zu", e.size(), o.max_length);
    // Windows of a single text fit max_length when it leaves room beside the special tokens. (A pair
    // side cut to nothing overflows whole, as Hugging Face's Encoding::truncate(0) does.)
    const size_t specials = o.add_special_tokens ? t.added_tokens(false) : 0;
    if (!pair && o.max_length > specials)
      for (const auto& w : e.overflowing)
        if (w.size() > o.max_length) fuzz::fail("a window of %zu tokens past max_length %zu", w.size(), o.max_length);
    if (!o.overflow && !e.overflowing.empty()) fuzz::fail("%zu windows not asked for", e.overflowing.size());
    // (max_length 0 is left out: the whole text overflows as one part, as HF's truncate(0), with
    // max_windows not applied; reported, not settled here.)
    if (!pair && o.overflow && o.max_windows > 0 && o.max_length > specials && e.overflowing.size() + 1 > o.max_windows)
      fuzz::fail("%zu windows past max_windows %zu", e.overflowing.size() + 1, o.max_windows);
    if (e.overflowing.size() + 1 > crossrank::tok::kMaxPairWindows)
      fuzz::fail("%zu windows past kMaxPairWindows", e.overflowing.size() + 1);
    if (o.overflow) {
      // The kept part does not depend on whether the cut-off part is returned.
      EncodeOptions plain = o;
      plain.overflow = false;
      auto p = t.encode(a, pair ? &bv : nullptr, plain);
      if (p.ids != e.ids) fuzz::fail("kept tokens differ with and without overflow windows (%zu vs %zu)", p.size(), e.size());
    }
  });
  return 0;
}
