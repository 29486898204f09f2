// Shared helpers of the bindings layer (the only code that includes napi.h).
#pragma once
#include "bindings/napi_config.h"

#include <functional>
#include <string>

#include "common/error.h"
#include "common/inflight.h"

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

// What a JS value is, for "expected X, got Y" messages.
inline std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    std::string n = v.ToString().Utf8Value();
    return "the number " + n;
  }
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsTypedArray()) {
    static const char* names[] = {"Int8Array",    "Uint8Array",   "Uint8ClampedArray", "Int16Array",   "Uint16Array",
                                  "Int32Array",   "Uint32Array",  "Float32Array",      "Float64Array", "BigInt64Array",
                                  "BigUint64Array"};
    const auto t = static_cast<size_t>(v.As<Napi::TypedArray>().TypedArrayType());
    return std::string("a ") + (t < sizeof(names) / sizeof(names[0]) ? names[t] : "typed array");
  }
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& name, const std::string& expected, const Napi::Value& got) {
  Napi::TypeError e = Napi::TypeError::New(env, "\"" + name + "\" must be " + expected + ", got " + describe(got));
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw e;
}

[[noreturn]] inline void throw_range(Napi::Env env, const std::string& name, const std::string& expected, const std::string& got) {
  Napi::RangeError e = Napi::RangeError::New(env, "\"" + name + "\" is out of range: it must be " + expected + ", got " + got);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  throw e;
}

// An integer argument in [min, max] (both exactly representable as doubles).
inline double get_integer(Napi::Env env, const Napi::Value& v, const std::string& name, double min, double max) {
  if (!v.IsNumber()) throw_type(env, name, "a number", v);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<long long>(d)))
    throw_range(env, name, "an integer from " + std::to_string(static_cast<long long>(min)) + " to " +
                               std::to_string(static_cast<long long>(max)),
                v.ToString().Utf8Value());
  return d;
}

// A typed array argument of exactly type `type` whose buffer is still attached.
template <typename T>
Napi::TypedArrayOf<T> get_typed(Napi::Env env, const Napi::Value& v, const std::string& name, napi_typedarray_type type,
                                const char* type_name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) throw_type(env, name, std::string("a ") + type_name, v);
  auto a = v.As<Napi::TypedArrayOf<T>>();
  if (a.ArrayBuffer().IsDetached()) {
    Napi::Error e = Napi::Error::New(env, "\"" + name + "\" is a " + type_name + " whose ArrayBuffer is detached (transferred)");
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
    throw e;
  }
  return a;
}

inline std::string get_string(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : dflt;
}
inline double get_number(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}
// An integer option `key` of `o` in [min, max], or `dflt` when it is absent (undefined).
inline double get_count(const Napi::Object& o, const char* key, double dflt, double min, double max) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : get_integer(o.Env(), v, key, min, max);
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
    inflight::Scope running;
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
