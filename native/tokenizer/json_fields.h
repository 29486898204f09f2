// Typed reads of tokenizer.json fields. Each failure is ERR_TOKENIZER_CONFIG naming the field by its
// path ("model.merges[3]") and saying what was expected and what was found, as Hugging Face's
// deserializer refuses the same files.
#pragma once
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"

namespace crossrank::tok::jf {

using nlohmann::json;

inline std::string kind(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "the integer " + j.dump();
    case json::value_t::number_float: return "the number " + j.dump();
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array of " + std::to_string(j.size());
    case json::value_t::object: return "an object";
    default: return "an unexpected value";
  }
}

[[noreturn]] inline void fail(const std::string& path, const std::string& expected, const json& got) {
  throw Error("ERR_TOKENIZER_CONFIG", path + " must be " + expected + ", found " + kind(got));
}

[[noreturn]] inline void missing(const std::string& path) {
  throw Error("ERR_TOKENIZER_CONFIG", path + " is missing");
}

// The member `key` of object o, or nullptr when absent.
inline const json* find(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

inline const json& need(const json& o, const char* key, const std::string& path) {
  const json* v = find(o, key);
  if (!v) missing(path);
  return *v;
}

inline std::string str(const json& v, const std::string& path) {
  if (!v.is_string()) fail(path, "a string", v);
  return v.get<std::string>();
}

inline bool boolean(const json& v, const std::string& path) {
  if (!v.is_boolean()) fail(path, "a boolean", v);
  return v.get<bool>();
}

inline double number(const json& v, const std::string& path) {
  if (!v.is_number()) fail(path, "a number", v);
  return v.get<double>();
}

// An unsigned integer no larger than `max` (Hugging Face's u32 / usize fields).
inline uint64_t uint(const json& v, const std::string& path, uint64_t max = std::numeric_limits<uint32_t>::max()) {
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    const uint64_t u = v.get<uint64_t>();
    if (u <= max) return u;
  }
  fail(path, "an integer from 0 to " + std::to_string(max), v);
}

// A token id: Hugging Face takes any u32; crossrank's ids are int32 (JS Int32Array, ONNX inputs).
inline int32_t id(const json& v, const std::string& path) {
  const uint64_t u = uint(v, path);
  if (u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
    throw Error("ERR_TOKENIZER_UNSUPPORTED", path + " is " + std::to_string(u) + ": ids above 2147483647 are not supported");
  return static_cast<int32_t>(u);
}

// Optional fields: absent or null give the default.
inline std::string opt_str(const json& o, const char* key, const std::string& path, std::string dflt = {}) {
  const json* v = find(o, key);
  return (!v || v->is_null()) ? dflt : str(*v, path);
}
inline bool opt_bool(const json& o, const char* key, const std::string& path, bool dflt) {
  const json* v = find(o, key);
  return (!v || v->is_null()) ? dflt : boolean(*v, path);
}

// "type" when present must name this component (Hugging Face checks it even where it is optional).
inline void check_type(const json& o, const char* want, const std::string& path) {
  const json* v = find(o, "type");
  if (v && str(*v, path + ".type") != want) fail(path + ".type", std::string("\"") + want + "\"", *v);
}

}  // namespace crossrank::tok::jf
