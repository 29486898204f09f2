// Per-environment state: every worker thread that loads the addon gets its own constructors.
#pragma once
#include <napi.h>

namespace crossrank::bind {

struct AddonData {
  Napi::FunctionReference tokenizer;
  Napi::FunctionReference session;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace crossrank::bind
