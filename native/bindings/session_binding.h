#pragma once
#include "bindings/napi_config.h"

#include <atomic>
#include <memory>

#include "inference/session.h"

namespace crossrank::bind {

// NativeSession: a handle on a process-wide shared ONNX Runtime session.
//   new NativeSession(path, config)            sync; throws ERR_MODEL_NOT_FOUND / ERR_MODEL_LOAD / ...
//   scoreAsync(tokenizer, queries, docs, pairQuery, opts, cancel)
//                                              async (libuv pool); rejects ERR_ABORTED, ERR_INFERENCE
//   embedAsync(tokenizer, texts, opts, cancel)  async; pooled (and normalized) vectors
//   info()                                     sync
//   dispose()                                  sync; throws ERR_BUSY while runs are in flight
class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit SessionWrap(const Napi::CallbackInfo& info);

  std::shared_ptr<infer::Session> acquire_for_run(Napi::Env env);
  void release_run() { in_flight_.fetch_sub(1); }

 private:
  Napi::Value ScoreAsync(const Napi::CallbackInfo& info);
  Napi::Value EmbedAsync(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value InFlight(const Napi::CallbackInfo& info);
  static Napi::Value LiveSessions(const Napi::CallbackInfo& info);

  std::shared_ptr<infer::Session> session_;
  std::atomic<int> in_flight_{0};
};

}  // namespace crossrank::bind
