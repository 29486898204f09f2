// Module entry: registers every native class. Each stage's binding lives in its own file.
#include <napi.h>

#include "bindings/tokenizer_binding.h"

namespace crossrank::bind {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTokenizer", TokenizerWrap::Init(env));
  return exports;
}

}  // namespace crossrank::bind

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return crossrank::bind::Init(env, exports); }

NODE_API_MODULE(crossrank, InitModule)
