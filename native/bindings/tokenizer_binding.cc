#include "bindings/tokenizer_binding.h"

#include <atomic>

#include "bindings/napi_util.h"
#include "common/parallel.h"

namespace crossrank::bind {

namespace {

struct BatchInput {
  std::vector<std::string> a, b;
  bool has_pairs = false;
  tok::EncodeOptions opts;
  bool want_tokens = false;
  unsigned threads = 1;
};

struct BatchOutput {
  std::vector<tok::Encoding> enc;
  std::vector<std::string> err_code, err_msg;  // empty code: ok
};

}  // namespace

tok::EncodeOptions parse_encode_options(const Napi::Object& o) {
  tok::EncodeOptions e;
  e.truncate = get_bool(o, "truncate", false);
  e.max_length = static_cast<size_t>(get_count(o, "maxLength", 0, 0, 1 << 30));
  std::string s = get_string(o, "strategy", "longest_first");
  e.strategy = s == "only_first" ? tok::Truncation::OnlyFirst
               : s == "only_second" ? tok::Truncation::OnlySecond
                                    : tok::Truncation::LongestFirst;
  e.stride = static_cast<size_t>(get_count(o, "stride", 0, 0, 1 << 30));
  e.from_left = get_string(o, "direction", "right") == "left";
  e.add_special_tokens = get_bool(o, "addSpecialTokens", true);
  e.overflow = get_bool(o, "overflow", false);
  return e;
}

namespace {

BatchInput read_input(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsArray(), env, "texts must be an array of strings");
  BatchInput in;
  Napi::Array texts = info[0].As<Napi::Array>();
  const uint32_t n = texts.Length();
  in.a.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value v = texts.Get(i);
    CR_THROW_TYPE_IF(!v.IsString(), env, "texts[" + std::to_string(i) + "] must be a string");
    in.a.push_back(v.As<Napi::String>().Utf8Value());
  }
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    if (!info[1].IsArray()) throw_type(env, "pairs", "an array of strings or null", info[1]);
    Napi::Array pairs = info[1].As<Napi::Array>();
    CR_THROW_TYPE_IF(pairs.Length() != n, env, "pairs must have as many entries as texts");
    in.has_pairs = true;
    in.b.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value v = pairs.Get(i);
      CR_THROW_TYPE_IF(!v.IsString(), env, "pairs[" + std::to_string(i) + "] must be a string");
      in.b.push_back(v.As<Napi::String>().Utf8Value());
    }
  }
  Napi::Object o = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  in.opts = parse_encode_options(o);
  in.want_tokens = get_bool(o, "returnTokens", false);
  in.threads = static_cast<unsigned>(get_count(o, "threads", 1, 1, 1024));
  return in;
}

void run_batch(const tok::Tokenizer& t, const BatchInput& in, BatchOutput& out) {
  const size_t n = in.a.size();
  out.enc.resize(n);
  out.err_code.resize(n);
  out.err_msg.resize(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      if (inflight::exiting()) {
        out.err_code[i] = "ERR_ABORTED";
        out.err_msg[i] = "the process is exiting";
        continue;
      }
      try {
        if (in.has_pairs) {
          std::string_view b = in.b[i];
          out.enc[i] = t.encode(in.a[i], &b, in.opts);
        } else {
          out.enc[i] = t.encode(in.a[i], nullptr, in.opts);
        }
      } catch (const crossrank::Error& e) {
        out.err_code[i] = e.code();
        out.err_msg[i] = e.what();
      } catch (const std::exception& e) {
        out.err_code[i] = "ERR_NATIVE";
        out.err_msg[i] = e.what();
      }
    }
  };
  unsigned threads = std::min<unsigned>(in.threads, static_cast<unsigned>(std::max<size_t>(1, n / 8)));
  run_on_threads(threads, work);
}

// Rows: every main encoding first, then the overflowing ones of each in order.
Napi::Object to_js(Napi::Env env, const tok::Tokenizer& t, BatchOutput& out, bool want_tokens) {
  std::vector<const tok::Encoding*> rows;
  const size_t n = out.enc.size();
  for (auto& e : out.enc) rows.push_back(&e);
  Napi::Uint32Array overflow_count = Napi::Uint32Array::New(env, n);
  Napi::Uint8Array truncated = Napi::Uint8Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    overflow_count[i] = static_cast<uint32_t>(out.enc[i].overflowing.size());
    truncated[i] = out.enc[i].truncated ? 1 : 0;
    for (auto& o : out.enc[i].overflowing) rows.push_back(&o);
  }
  size_t total = 0;
  for (auto* r : rows) total += r->size();
  Napi::Int32Array ids = Napi::Int32Array::New(env, total);
  Napi::Int32Array types = Napi::Int32Array::New(env, total);
  Napi::Uint8Array special = Napi::Uint8Array::New(env, total);
  Napi::Int8Array seq = Napi::Int8Array::New(env, total);
  Napi::Uint32Array offsets = Napi::Uint32Array::New(env, total * 2);
  Napi::Uint32Array lengths = Napi::Uint32Array::New(env, rows.size());
  size_t k = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const tok::Encoding& e = *rows[r];
    lengths[r] = static_cast<uint32_t>(e.size());
    std::copy(e.ids.begin(), e.ids.end(), ids.Data() + k);
    std::copy(e.type_ids.begin(), e.type_ids.end(), types.Data() + k);
    std::copy(e.special.begin(), e.special.end(), special.Data() + k);
    std::copy(e.seq.begin(), e.seq.end(), seq.Data() + k);
    for (size_t i = 0; i < e.size(); ++i) {
      offsets[2 * (k + i)] = e.start[i];
      offsets[2 * (k + i) + 1] = e.end[i];
    }
    k += e.size();
  }
  Napi::Object res = Napi::Object::New(env);
  res.Set("ids", ids);
  res.Set("typeIds", types);
  res.Set("specialMask", special);
  res.Set("sequenceIds", seq);
  res.Set("offsets", offsets);
  res.Set("lengths", lengths);
  res.Set("overflowCount", overflow_count);
  res.Set("truncated", truncated);
  Napi::Array errors = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    if (out.err_code[i].empty()) {
      errors.Set(static_cast<uint32_t>(i), env.Null());
    } else {
      Napi::Object eo = Napi::Object::New(env);
      eo.Set("code", out.err_code[i]);
      eo.Set("message", out.err_msg[i]);
      errors.Set(static_cast<uint32_t>(i), eo);
    }
  }
  res.Set("errors", errors);
  if (want_tokens) {
    Napi::Array tokens = Napi::Array::New(env, total);
    size_t q = 0;
    for (auto* r : rows)
      for (int32_t id : r->ids) {
        const std::string* s = t.id_to_token(id);
        tokens.Set(static_cast<uint32_t>(q++), s ? Napi::String::New(env, *s) : env.Null());
      }
    res.Set("tokens", tokens);
  }
  return res;
}

class EncodeWorker : public Napi::AsyncWorker {
 public:
  EncodeWorker(Napi::Env env, std::shared_ptr<tok::Tokenizer> t, BatchInput in)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), tok_(std::move(t)), in_(std::move(in)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    inflight::Scope running;
    run_batch(*tok_, in_, out_);
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(to_js(Env(), *tok_, out_, in_.want_tokens));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<tok::Tokenizer> tok_;
  BatchInput in_;
  BatchOutput out_;
};

}  // namespace

Napi::Function TokenizerWrap::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "NativeTokenizer",
                                 {InstanceMethod("encodeBatch", &TokenizerWrap::EncodeBatch),
                                  InstanceMethod("encodeBatchAsync", &TokenizerWrap::EncodeBatchAsync),
                                  InstanceMethod("decode", &TokenizerWrap::Decode),
                                  InstanceMethod("tokenToId", &TokenizerWrap::TokenToId),
                                  InstanceMethod("idToToken", &TokenizerWrap::IdToToken),
                                  InstanceMethod("info", &TokenizerWrap::Info)});
  return f;
}

// new NativeTokenizer(path) or new NativeTokenizer(jsonText, origin, true)
TokenizerWrap::TokenizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenizerWrap>(info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "path must be a string");
  const bool from_json = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  if (from_json && !info[1].IsString()) throw_type(env, "origin", "a string", info[1]);
  try {
    if (from_json)
      tok_ = tok::Tokenizer::from_json(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
    else
      tok_ = tok::Tokenizer::shared_from_file(info[0].As<Napi::String>().Utf8Value());
  } catch (const std::exception& e) {
    throw from_exception(env, e);
  }
}

Napi::Value TokenizerWrap::EncodeBatch(const Napi::CallbackInfo& info) {
  BatchInput in = read_input(info);
  BatchOutput out;
  {
    inflight::Scope running;  // a worker thread's call may still run while the process exits
    run_batch(*tok_, in, out);
  }
  return to_js(info.Env(), *tok_, out, in.want_tokens);
}

Napi::Value TokenizerWrap::EncodeBatchAsync(const Napi::CallbackInfo& info) {
  BatchInput in = read_input(info);
  auto* w = new EncodeWorker(info.Env(), tok_, std::move(in));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value TokenizerWrap::Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Int32Array arr = get_typed<int32_t>(env, info[0], "ids", napi_int32_array, "Int32Array");
  std::vector<int32_t> ids(arr.Data(), arr.Data() + arr.ElementLength());
  bool skip = info[1].IsBoolean() ? info[1].As<Napi::Boolean>().Value() : true;
  try {
    return Napi::String::New(env, tok_->decode(ids, skip));
  } catch (const std::exception& e) {
    throw from_exception(env, e);
  }
}

Napi::Value TokenizerWrap::TokenToId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "token must be a string");
  int32_t id = tok_->token_to_id(info[0].As<Napi::String>().Utf8Value());
  return id < 0 ? env.Undefined() : Napi::Number::New(env, id);
}

Napi::Value TokenizerWrap::IdToToken(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsNumber(), env, "id must be a number");
  const std::string* s = tok_->id_to_token(info[0].As<Napi::Number>().Int32Value());
  return s ? Napi::String::New(env, *s) : env.Undefined();
}

Napi::Value TokenizerWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("vocabSize", static_cast<double>(tok_->vocab_size()));
  o.Set("addedSingle", static_cast<double>(tok_->added_tokens(false)));
  o.Set("addedPair", static_cast<double>(tok_->added_tokens(true)));
  o.Set("padId", tok_->pad_id());
  const auto& td = tok_->truncation_defaults();
  if (td) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("maxLength", static_cast<double>(td->max_length));
    t.Set("strategy", td->strategy == tok::Truncation::OnlyFirst    ? "only_first"
                      : td->strategy == tok::Truncation::OnlySecond ? "only_second"
                                                                    : "longest_first");
    t.Set("stride", static_cast<double>(td->stride));
    t.Set("direction", td->from_left ? "left" : "right");
    o.Set("truncation", t);
  } else {
    o.Set("truncation", env.Null());
  }
  return o;
}

}  // namespace crossrank::bind
