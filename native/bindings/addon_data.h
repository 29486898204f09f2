// Per-environment state: every worker thread that loads the addon gets its own constructors.
#pragma once
#include "bindings/napi_config.h"

#include <memory>

namespace crossrank::bind {

class SearchDispatcher;  // bindings/search_dispatch.cc

struct AddonData {
  Napi::FunctionReference tokenizer;
  Napi::FunctionReference session;
  std::shared_ptr<SearchDispatcher> search;  // created by the first search
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace crossrank::bind
