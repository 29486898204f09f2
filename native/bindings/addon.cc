// Module entry: registers every native class. Each stage's binding lives in its own file.
#include "bindings/napi_config.h"

#include "bindings/addon_data.h"
#include "bindings/index_binding.h"
#include "bindings/session_binding.h"
#include "bindings/tokenizer_binding.h"

#include <dlfcn.h>

#include <mutex>

namespace crossrank::bind {

namespace {
// Node unloads (dlclose) an addon when the last environment that loaded it ends: a worker thread
// that was the only user of the addon, once it exits or is terminated. Threads this library's
// dependencies keep parked for reuse (OpenMP's team from a FAISS add, OpenBLAS's) would then wake
// up in unmapped code. Pinning the addon keeps it, and the libraries it links, mapped for the life
// of the process.
void pin_addon() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&pin_addon), &info) != 0 && info.dli_fname != nullptr)
      (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);  // handle kept on purpose
  });
}
}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  pin_addon();
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
