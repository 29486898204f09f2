// Module entry: registers every native class. Each stage's binding lives in its own file.
#include <napi.h>

#include "bindings/addon_data.h"
#include "bindings/index_binding.h"
#include "bindings/session_binding.h"
#include "bindings/tokenizer_binding.h"

namespace crossrank::bind {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function tokenizer = TokenizerWrap::Init(env);
  Napi::Function session = SessionWrap::Init(env);
  data->tokenizer = Napi::Persistent(tokenizer);
  data->session = Napi::Persistent(session);
  env.SetInstanceData(data);  // freed with the environment (each worker thread has its own)
  exports.Set("NativeTokenizer", tokenizer);
  exports.Set("NativeSession", session);
  exports.Set("NativeVectorIndex", VectorIndexWrap::Init(env));
  exports.Set("NativeBm25", Bm25Wrap::Init(env));
  return exports;
}

}  // namespace crossrank::bind

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return crossrank::bind::Init(env, exports); }

NODE_API_MODULE(crossrank, InitModule)
