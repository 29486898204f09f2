#pragma once
#include "bindings/napi_config.h"

#include <memory>

#include "tokenizer/tokenizer.h"

namespace crossrank::bind {

// Reads the encode options object that the TS facade builds.
tok::EncodeOptions parse_encode_options(const Napi::Object& o);

class TokenizerWrap : public Napi::ObjectWrap<TokenizerWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit TokenizerWrap(const Napi::CallbackInfo& info);
  const std::shared_ptr<tok::Tokenizer>& get() const { return tok_; }

 private:
  Napi::Value EncodeBatch(const Napi::CallbackInfo& info);
  Napi::Value EncodeBatchAsync(const Napi::CallbackInfo& info);
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value TokenToId(const Napi::CallbackInfo& info);
  Napi::Value IdToToken(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  std::shared_ptr<tok::Tokenizer> tok_;
};

}  // namespace crossrank::bind
