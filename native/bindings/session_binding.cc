#include "bindings/session_binding.h"

#include "bindings/addon_data.h"
#include "bindings/napi_util.h"
#include "bindings/tokenizer_binding.h"
#include "inference/embedder.h"
#include "inference/scorer.h"

namespace crossrank::bind {

namespace {

std::vector<std::string> read_strings(Napi::Env env, Napi::Value v, const char* name) {
  CR_THROW_TYPE_IF(!v.IsArray(), env, std::string(name) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value s = a.Get(i);
    CR_THROW_TYPE_IF(!s.IsString(), env, std::string(name) + "[" + std::to_string(i) + "] must be a string");
    out.push_back(s.As<Napi::String>().Utf8Value());
  }
  return out;
}

Napi::Value error_list(Napi::Env env, const std::vector<std::string>& code, const std::vector<std::string>& msg) {
  Napi::Array errors = Napi::Array::New(env, code.size());
  for (size_t i = 0; i < code.size(); ++i) {
    if (code[i].empty()) {
      errors.Set(static_cast<uint32_t>(i), env.Null());
      continue;
    }
    Napi::Object eo = Napi::Object::New(env);
    eo.Set("code", code[i]);
    eo.Set("message", msg[i]);
    errors.Set(static_cast<uint32_t>(i), eo);
  }
  return errors;
}

// The cancel flag of a run: an Int32Array of at least one element (element 0 is read), or null.
Napi::Value cancel_array(Napi::Env env, const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return env.Null();
  Napi::Int32Array c = get_typed<int32_t>(env, v, "cancel", napi_int32_array, "Int32Array or null");
  if (c.ElementLength() < 1) throw_range(env, "cancel", "an Int32Array of at least 1 element", "an empty one");
  return c;
}

template <typename Arr, typename T>
Arr typed_copy(Napi::Env env, const std::vector<T>& v) {
  Arr a = Arr::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

class ScoreWorker : public Napi::AsyncWorker {
 public:
  ScoreWorker(Napi::Env env, SessionWrap* owner, Napi::Object owner_obj, std::shared_ptr<infer::Session> session,
              std::shared_ptr<tok::Tokenizer> tok, infer::ScoreRequest req, Napi::Value cancel)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        session_(std::move(session)),
        tok_(std::move(tok)),
        req_(std::move(req)) {
    owner_ref_ = Napi::Persistent(owner_obj);
    if (!cancel.IsNull()) {
      Napi::Int32Array c = cancel.As<Napi::Int32Array>();  // checked by cancel_array()
      cancel_ref_ = Napi::Persistent(c.As<Napi::Object>());  // keeps the buffer alive while we run
      cancel_ = c.Data();
    }
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    inflight::Scope running;
    try {
      infer::score(*tok_, *session_, req_, cancel_, out_);
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "ERR_NATIVE";
      SetError(e.what());
    }
  }
  void OnOK() override {
    owner_->release_run();
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object r = Napi::Object::New(env);
    r.Set("labels", static_cast<double>(out_.labels));
    r.Set("logits", typed_copy<Napi::Float32Array>(env, out_.logits));
    r.Set("bestChunk", typed_copy<Napi::Uint32Array>(env, out_.best_chunk));
    r.Set("chunks", typed_copy<Napi::Uint32Array>(env, out_.chunks));
    r.Set("spanStart", typed_copy<Napi::Uint32Array>(env, out_.span_start));
    r.Set("spanEnd", typed_copy<Napi::Uint32Array>(env, out_.span_end));
    r.Set("truncated", typed_copy<Napi::Uint8Array>(env, out_.truncated));
    r.Set("errors", error_list(env, out_.err_code, out_.err_msg));
    Napi::Object st = Napi::Object::New(env);
    st.Set("truncated", static_cast<double>(out_.truncated_count));
    st.Set("batches", static_cast<double>(out_.batches));
    st.Set("rows", static_cast<double>(out_.rows));
    st.Set("realTokens", static_cast<double>(out_.real_tokens));
    st.Set("paddedTokens", static_cast<double>(out_.padded_tokens));
    r.Set("stats", st);
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error& e) override {
    owner_->release_run();
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    deferred_.Reject(make_error(env, code_.empty() ? "ERR_NATIVE" : code_, e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  SessionWrap* owner_;
  Napi::ObjectReference owner_ref_, cancel_ref_;
  int32_t* cancel_ = nullptr;
  std::shared_ptr<infer::Session> session_;
  std::shared_ptr<tok::Tokenizer> tok_;
  infer::ScoreRequest req_;
  infer::ScoreResult out_;
  std::string code_;
};

}  // namespace

Napi::Function SessionWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeSession",
                     {InstanceMethod("scoreAsync", &SessionWrap::ScoreAsync), InstanceMethod("embedAsync", &SessionWrap::EmbedAsync),
                      InstanceMethod("info", &SessionWrap::Info),
                      InstanceMethod("dispose", &SessionWrap::Dispose),
                      InstanceAccessor("inFlight", &SessionWrap::InFlight, nullptr),
                      StaticMethod("liveSessions", &SessionWrap::LiveSessions)});
}

// new NativeSession(path, { intraThreads, interThreads, device, deviceId, optimize, spinning })
SessionWrap::SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "path must be a string");
  Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  infer::SessionConfig cfg;
  cfg.intra_threads = static_cast<int>(get_count(o, "intraThreads", 1, 0, 1024));
  cfg.inter_threads = static_cast<int>(get_count(o, "interThreads", 1, 0, 1024));
  cfg.device = get_string(o, "device", "cpu");
  cfg.device_id = static_cast<int>(get_count(o, "deviceId", 0, 0, 1024));
  cfg.optimize = get_bool(o, "optimize", true);
  cfg.spinning = get_bool(o, "spinning", true);
  try {
    session_ = infer::Session::acquire(info[0].As<Napi::String>().Utf8Value(), cfg);
  } catch (const std::exception& e) {
    throw from_exception(env, e);
  }
}

std::shared_ptr<infer::Session> SessionWrap::acquire_for_run(Napi::Env env) {
  if (!session_) throw make_error(env, "ERR_DISPOSED", "this model has been disposed");
  in_flight_.fetch_add(1);
  return session_;
}

// scoreAsync(tokenizer, queries, docs, pairQuery | null, opts, cancel: Int32Array | null)
Napi::Value SessionWrap::ScoreAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(addon_data(env).tokenizer.Value()),
                   env, "tokenizer must be a NativeTokenizer");
  auto tok = TokenizerWrap::Unwrap(info[0].As<Napi::Object>())->get();
  infer::ScoreRequest req;
  req.queries = read_strings(env, info[1], "queries");
  req.docs = read_strings(env, info[2], "docs");
  if (!info[3].IsNull() && !info[3].IsUndefined()) {
    Napi::Uint32Array pq = get_typed<uint32_t>(env, info[3], "pairQuery", napi_uint32_array, "Uint32Array or null");
    CR_THROW_TYPE_IF(pq.ElementLength() != req.docs.size(), env, "pairQuery must have one entry per doc");
    req.pair_query.assign(pq.Data(), pq.Data() + pq.ElementLength());
    for (uint32_t q : req.pair_query) CR_THROW_TYPE_IF(q >= req.queries.size(), env, "pairQuery holds an index past queries");
  } else {
    CR_THROW_TYPE_IF(req.queries.size() != 1 && !req.docs.empty(), env, "without pairQuery, queries must hold one query");
  }
  Napi::Object o = info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(env);
  req.pair.enc = parse_encode_options(o);
  req.pair.chunk = get_bool(o, "chunk", false);
  req.pair.max_chunks = static_cast<size_t>(get_count(o, "maxChunks", 0, 0, 1 << 30));
  req.token_budget = static_cast<size_t>(get_count(o, "tokenBudget", 8192, 1, 1 << 30));
  req.max_rows = static_cast<size_t>(get_count(o, "maxRows", 64, 1, 1 << 30));
  req.window = static_cast<size_t>(get_count(o, "window", 1024, 0, 1 << 30));
  req.label = static_cast<uint32_t>(get_count(o, "label", 0, 0, 1 << 30));
  req.output = get_string(o, "output", "logits");
  Napi::Value cancel = cancel_array(env, info[5]);
  auto session = acquire_for_run(env);
  auto* w = new ScoreWorker(env, this, info.This().As<Napi::Object>(), std::move(session), std::move(tok),
                            std::move(req), cancel);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

namespace {
// Held by an async run: keeps the handle and the cancel buffer alive and ends the run's in-flight
// count when the worker is destroyed (on the JS thread, after it settled).
struct RunGuard {
  SessionWrap* owner;
  Napi::ObjectReference owner_ref, cancel_ref;
  ~RunGuard() { owner->release_run(); }
};

int32_t* cancel_flag(Napi::Value v, RunGuard& g) {
  if (v.IsNull()) return nullptr;
  Napi::Int32Array c = v.As<Napi::Int32Array>();  // checked by cancel_array()
  g.cancel_ref = Napi::Persistent(c.As<Napi::Object>());
  return c.Data();
}
}  // namespace

// embedAsync(tokenizer, texts, { maxLength, truncate, pooling, normalize, tokenBudget, maxRows, output }, cancel)
Napi::Value SessionWrap::EmbedAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(addon_data(env).tokenizer.Value()),
                   env, "tokenizer must be a NativeTokenizer");
  auto tok = TokenizerWrap::Unwrap(info[0].As<Napi::Object>())->get();
  auto req = std::make_shared<infer::EmbedRequest>();
  req->texts = read_strings(env, info[1], "texts");
  Napi::Object o = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  req->enc = parse_encode_options(o);
  req->token_budget = static_cast<size_t>(get_count(o, "tokenBudget", 8192, 1, 1 << 30));
  req->max_rows = static_cast<size_t>(get_count(o, "maxRows", 64, 1, 1 << 30));
  const std::string pooling = get_string(o, "pooling", "mean");
  req->pooling = pooling == "cls" ? infer::Pooling::Cls : pooling == "max" ? infer::Pooling::Max
                 : pooling == "none" ? infer::Pooling::None : infer::Pooling::Mean;
  req->normalize = get_bool(o, "normalize", true);
  req->output = get_string(o, "output", "");
  Napi::Value cancel_v = cancel_array(env, info[3]);
  auto session = acquire_for_run(env);
  auto guard = std::make_shared<RunGuard>();
  guard->owner = this;
  guard->owner_ref = Napi::Persistent(info.This().As<Napi::Object>());
  int32_t* cancel = cancel_flag(cancel_v, *guard);
  auto out = std::make_shared<infer::EmbedResult>();
  return run_async(
      env, [tok, session, req, cancel, out] { infer::embed(*tok, *session, *req, cancel, *out); },
      [out, guard](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("dim", static_cast<double>(out->dim));
        r.Set("vectors", typed_copy<Napi::Float32Array>(env, out->vectors));
        r.Set("truncated", typed_copy<Napi::Uint8Array>(env, out->truncated));
        r.Set("errors", error_list(env, out->err_code, out->err_msg));
        return r;
      });
}

Napi::Value SessionWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!session_) throw make_error(env, "ERR_DISPOSED", "this model has been disposed");
  Napi::Object o = Napi::Object::New(env);
  o.Set("provider", session_->provider());
  o.Set("path", session_->path());
  o.Set("key", session_->key());
  o.Set("id", static_cast<double>(session_->id()));
  Napi::Array ins = Napi::Array::New(env, session_->inputs().size());
  for (size_t i = 0; i < session_->inputs().size(); ++i) ins.Set(static_cast<uint32_t>(i), session_->inputs()[i].name);
  o.Set("inputs", ins);
  Napi::Array outs = Napi::Array::New(env, session_->outputs().size());
  for (size_t i = 0; i < session_->outputs().size(); ++i) {
    Napi::Object oo = Napi::Object::New(env);
    oo.Set("name", session_->outputs()[i].name);
    Napi::Array shape = Napi::Array::New(env, session_->outputs()[i].shape.size());
    for (size_t k = 0; k < session_->outputs()[i].shape.size(); ++k)
      shape.Set(static_cast<uint32_t>(k), static_cast<double>(session_->outputs()[i].shape[k]));
    oo.Set("shape", shape);
    outs.Set(static_cast<uint32_t>(i), oo);
  }
  o.Set("outputs", outs);
  return o;
}

Napi::Value SessionWrap::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (in_flight_.load() > 0)
    throw make_error(env, "ERR_BUSY", "cannot dispose: " + std::to_string(in_flight_.load()) + " run(s) in flight");
  session_.reset();
  return env.Undefined();
}

Napi::Value SessionWrap::InFlight(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), in_flight_.load());
}

Napi::Value SessionWrap::LiveSessions(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(infer::Session::live_sessions()));
}

}  // namespace crossrank::bind
