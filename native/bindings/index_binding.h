#pragma once
#include "bindings/napi_config.h"

#include <atomic>
#include <memory>

#include "index/bm25.h"
#include "index/vector_index.h"

namespace crossrank::bind {

// NativeVectorIndex (FAISS). Heavy calls (train, add, search, save, load) are async on the libuv
// pool and reject with ERR_FAISS / ERR_INDEX_* codes; the rest are sync.
class VectorIndexWrap : public Napi::ObjectWrap<VectorIndexWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit VectorIndexWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<index::VectorIndex> index;

 private:
  Napi::Value Train(const Napi::CallbackInfo& info);
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Search(const Napi::CallbackInfo& info);
  Napi::Value SearchSync(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  static Napi::Value Load(const Napi::CallbackInfo& info);
  static Napi::Value FaissInfo(const Napi::CallbackInfo& info);
};

// NativeBm25: add/search/save/load async; remove, analyze and info sync.
class Bm25Wrap : public Napi::ObjectWrap<Bm25Wrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Bm25Wrap(const Napi::CallbackInfo& info);
  std::shared_ptr<index::Bm25Index> index;

 private:
  Napi::Value Add(const Napi::CallbackInfo& info);
  Napi::Value Search(const Napi::CallbackInfo& info);
  Napi::Value Remove(const Napi::CallbackInfo& info);
  Napi::Value Analyze(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  static Napi::Value Load(const Napi::CallbackInfo& info);
};

}  // namespace crossrank::bind
