// First-stage searches (FAISS, BM25) run on crossrank's own SpinExecutor rather than libuv's pool;
// results come back to the JS thread through one thread-safe function per environment.
#pragma once
#include "bindings/napi_config.h"

#include <functional>

namespace crossrank::bind {

// Like run_async, on the search threads: `work` off the JS thread (no N-API), then `done` on it.
Napi::Promise run_search_async(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done);

}  // namespace crossrank::bind
