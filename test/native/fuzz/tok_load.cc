// Target 2: tokenizer.json from arbitrary bytes. A refusal must be a crossrank::Error; a tokenizer
// that loads must encode (single text and truncated pair) and decode without breaking invariants.
#include "fuzz_common.h"

using crossrank::tok::EncodeOptions;
using crossrank::tok::Tokenizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<Tokenizer> t;
  if (!fuzz::typed([&] { t = Tokenizer::from_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz"); }))
    return 0;
  static const std::string_view kA = "Hello, WORLD! naïve café 日本語 \xF0\x9F\x98\x80 [CLS] <s> don't 12345";
  static const std::string_view kB = "  a second\ttext\n  with   spaces ";
  const size_t len[2] = {fuzz::text_length(kA, true), fuzz::text_length(kB, true)};
  EncodeOptions o;
  fuzz::typed([&] { fuzz::check_encoding(*t, t->encode(kA, nullptr, o), len); });
  o.truncate = true;
  o.max_length = 12;
  o.stride = 2;
  o.overflow = true;
  fuzz::typed([&] { fuzz::check_encoding(*t, t->encode(kA, &kB, o), len); });
  return 0;
}
