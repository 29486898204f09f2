// Target 1: encode arbitrary bytes (valid UTF-8 or not) with each fixture tokenizer, with and
// without special tokens, in both offset units; then the sequence encoder with an early stop.
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_common.h"

using crossrank::tok::EncodeOptions;

CROSSRANK_FUZZ_LOAD_TOKENIZERS_FIRST

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const auto& t = fuzz::pick_tokenizer(in);
  EncodeOptions o;
  o.add_special_tokens = in.ConsumeBool();
  o.utf16_offsets = in.ConsumeBool();
  const size_t stop = in.ConsumeIntegralInRange<size_t>(0, 16);
  const std::string text = in.ConsumeRemainingBytesAsString();
  const size_t len[2] = {fuzz::text_length(text, o.utf16_offsets), 0};
  fuzz::typed([&] {
    auto e = t.encode(text, nullptr, o);
    fuzz::check_encoding(t, e, len);
  });
  fuzz::typed([&] {
    auto whole = t.encode_sequence(text, 0, o.utf16_offsets);
    fuzz::check_encoding(t, whole, len);
    if (stop == 0) return;
    // Stopping early reads a prefix of the words: its tokens begin the whole sequence's.
    auto part = t.encode_sequence(text, 0, o.utf16_offsets, stop);
    fuzz::check_encoding(t, part, len);
    if (part.size() > whole.size() || !std::equal(part.ids.begin(), part.ids.end(), whole.ids.begin()))
      fuzz::fail("encode_sequence stopped at %zu gives %zu ids that do not begin the %zu of the whole text", stop,
                 part.size(), whole.size());
  });
  return 0;
}
