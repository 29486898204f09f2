// Shared helpers of the bindings layer (the only code that includes napi.h).
#pragma once
#include <napi.h>

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

}  // namespace crossrank::bind
