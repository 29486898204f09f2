// Module entry: registers every native class. Each stage's binding lives in its own file.
#include "bindings/napi_config.h"

#include "bindings/addon_data.h"
#include "bindings/index_binding.h"
#include "bindings/session_binding.h"
#include "bindings/tokenizer_binding.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <mutex>

#include "common/inflight.h"

namespace crossrank::bind {

namespace {
// Node unloads (dlclose) an addon when the last environment that loaded it ends: a worker thread
// that was the only user of the addon, once it exits or is terminated. Threads this library's
// dependencies keep parked for reuse (OpenMP's team from a FAISS add, OpenBLAS's) would then wake
// up in unmapped code. Pinning the addon keeps it, and the libraries it links, mapped for the life
// of the process.
//
// At exit, the libraries' finalizers must not run under threads of ours still inside them (a
// search's matrix product while OpenBLAS frees its buffers crashed). The exit hook marks the
// process as exiting (scoring, embedding and batch tokenizing stop at their next step) and waits
// for the jobs still running; one that will not end soon (a FAISS train) is not waited for: the
// process then ends at once with its status, without the finalizers. The hook lives in the addon,
// so it is registered only once the addon is pinned.
void on_process_exit(int status, void*) {
  if (!inflight::drain(std::chrono::seconds(2))) _exit(status);
}

void* pin_addon() {
  static void* self = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&pin_addon), &info) != 0 && info.dli_fname != nullptr)
      self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);  // never closed, on purpose
    if (self != nullptr) on_exit(on_process_exit, nullptr);
  });
  return self;
}

// OpenBLAS (FAISS's BLAS on most Linux systems) keeps its own worker threads, and its exit handler
// joins them: a process.exit() while a search's matrix product had handed work to them hung about
// one time in three. The searches are already spread over the search threads and OpenMP, so BLAS
// runs each product on the thread that calls it; its workers then never hold work at exit.
// Looked up at run time among the addon's dependencies: another BLAS (reference, BLIS, MKL) has no
// such function and is left alone.
void single_threaded_blas(void* self) {
  using SetThreads = void (*)(int);
  if (self == nullptr) return;
  if (auto set = reinterpret_cast<SetThreads>(dlsym(self, "openblas_set_num_threads"))) set(1);
}
}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  single_threaded_blas(pin_addon());
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
  exports.Set("beginExit", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                inflight::begin_exit();
                return info.Env().Undefined();
              }));
  return exports;
}

}  // namespace crossrank::bind

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return crossrank::bind::Init(env, exports); }

NODE_API_MODULE(crossrank, InitModule)
