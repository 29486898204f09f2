// Shared helpers of the bindings layer (the only code that includes napi.h).
#pragma once
#include "bindings/napi_config.h"

#include <functional>
#include <string>

#include "common/error.h"

namespace crossrank::bind {

// A JS Error carrying a stable `code`, like Node's own ERR_* errors.
inline Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

inline Napi::Error from_exception(Napi::Env env, const std::exception& e) {
  if (auto* ce = dynamic_cast<const crossrank::Error*>(&e)) return make_error(env, ce->code(), ce->what());
  return make_error(env, "ERR_NATIVE", e.what());
}

// Throw a TypeError naming the argument (second line of defence: TS validates first).
#define CR_THROW_TYPE_IF(cond, env, msg)                                     \
  do {                                                                       \
    if (cond) {                                                              \
      Napi::TypeError e = Napi::TypeError::New(env, msg);                    \
      e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));         \
      throw e;                                                               \
    }                                                                        \
  } while (0)

inline std::string get_string(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : dflt;
}
inline double get_number(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}
inline bool get_bool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}


// Runs `work` off the JS thread; on failure fills `code` (crossrank::Error's, else ERR_NATIVE) and
// `message` and returns false.
inline bool run_capturing(const std::function<void()>& work, std::string& code, std::string& message) {
  try {
    work();
    return true;
  } catch (const crossrank::Error& e) {
    code = e.code();
    message = e.what();
  } catch (const std::exception& e) {
    code = "ERR_NATIVE";
    message = e.what();
  }
  return false;
}

// Runs `work` on the libuv pool (it must not touch N-API), then `done` on the JS thread to build
// the result. A crossrank::Error thrown by `work` rejects the promise with its `code`.
class LambdaWorker : public Napi::AsyncWorker {
 public:
  LambdaWorker(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string message;
    if (!run_capturing(work_, code_, message)) SetError(message);
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(make_error(Env(), code_.empty() ? "ERR_NATIVE" : code_, e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::string code_;
};

inline Napi::Promise run_async(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done) {
  auto* w = new LambdaWorker(env, std::move(work), std::move(done));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace crossrank::bind
