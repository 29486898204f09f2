#include "bindings/index_binding.h"

#include "bindings/napi_util.h"
#include "bindings/search_dispatch.h"
#include "common/parallel.h"

namespace crossrank::bind {

namespace {

std::vector<float> copy_floats(Napi::Env env, Napi::Value v, const char* name) {
  auto a = get_typed<float>(env, v, name, napi_float32_array, "Float32Array");
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<int64_t> copy_ids(Napi::Env env, Napi::Value v, const char* name) {
  auto a = get_typed<int64_t>(env, v, name, napi_bigint64_array, "BigInt64Array");
  return std::vector<int64_t>(a.Data(), a.Data() + a.ElementLength());
}

// An object made by load() is created empty and filled at once; only load() holds this token, so
// `new NativeVectorIndex()` / `new NativeBm25()` from JS cannot make an object without an index.
int load_token;
bool is_load_call(const Napi::CallbackInfo& info) {
  return info.Length() == 1 && info[0].IsExternal() && info[0].As<Napi::External<int>>().Data() == &load_token;
}

// Most (query, result) slots one search may ask for: k × queries results of 12 bytes each are
// allocated before FAISS runs, so the product is bounded first (2^26 slots: 768 MiB).
constexpr double kMaxSearchSlots = static_cast<double>(1 << 26);

// k and the number of queries of a search, checked before anything is allocated.
std::pair<size_t, size_t> search_shape(Napi::Env env, const Napi::Value& k_arg, size_t floats, int dim) {
  const double k = get_integer(env, k_arg, "k", 1, kMaxSearchSlots);
  if (dim <= 0 || floats % static_cast<size_t>(dim) != 0) {
    Napi::Error e = Napi::Error::New(env, "\"queries\" holds " + std::to_string(floats) + " floats, not a whole number of " +
                                              std::to_string(dim) + "-dimensional vectors");
    e.Set("code", Napi::String::New(env, "ERR_DIMENSION_MISMATCH"));
    throw e;
  }
  const size_t nq = floats / static_cast<size_t>(dim);
  if (static_cast<double>(nq) * k > kMaxSearchSlots)
    throw_range(env, "k × queries", "at most " + std::to_string(1 << 26) + " results per search",
                std::to_string(static_cast<long long>(k)) + " × " + std::to_string(nq));
  return {nq, static_cast<size_t>(k)};
}

template <typename F>
auto sync(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    throw from_exception(env, e);
  }
}

Napi::Value hits_to_js(Napi::Env env, const std::vector<std::vector<index::Hit>>& all) {
  Napi::Array out = Napi::Array::New(env, all.size());
  for (size_t q = 0; q < all.size(); ++q) {
    Napi::Uint32Array docs = Napi::Uint32Array::New(env, all[q].size());
    Napi::Float32Array scores = Napi::Float32Array::New(env, all[q].size());
    for (size_t i = 0; i < all[q].size(); ++i) {
      docs[i] = all[q][i].doc;
      scores[i] = all[q][i].score;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("docs", docs);
    o.Set("scores", scores);
    out.Set(static_cast<uint32_t>(q), o);
  }
  return out;
}

}  // namespace

// ---- FAISS ----------------------------------------------------------------------------------

Napi::Function VectorIndexWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeVectorIndex",
                     {InstanceMethod("train", &VectorIndexWrap::Train), InstanceMethod("add", &VectorIndexWrap::Add),
                      InstanceMethod("search", &VectorIndexWrap::Search), InstanceMethod("searchSync", &VectorIndexWrap::SearchSync),
                      InstanceMethod("remove", &VectorIndexWrap::Remove), InstanceMethod("save", &VectorIndexWrap::Save),
                      InstanceMethod("info", &VectorIndexWrap::Info), StaticMethod("load", &VectorIndexWrap::Load),
                      StaticMethod("faissInfo", &VectorIndexWrap::FaissInfo)});
}

// new NativeVectorIndex(dim, factory, metric) or new NativeVectorIndex() (filled by load)
VectorIndexWrap::VectorIndexWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VectorIndexWrap>(info) {
  Napi::Env env = info.Env();
  if (is_load_call(info)) return;
  CR_THROW_TYPE_IF(!info[0].IsNumber() || !info[1].IsString() || !info[2].IsString(), env,
                   "expected (dim: number, factory: string, metric: 'ip' | 'l2')");
  const int dim = info[0].As<Napi::Number>().Int32Value();
  const std::string factory = info[1].As<Napi::String>().Utf8Value();
  const auto metric = info[2].As<Napi::String>().Utf8Value() == "ip" ? index::Metric::InnerProduct : index::Metric::L2;
  index = sync(env, [&] { return index::VectorIndex::create(dim, factory, metric); });
}

Napi::Value VectorIndexWrap::Train(const Napi::CallbackInfo& info) {
  auto x = std::make_shared<std::vector<float>>(copy_floats(info.Env(), info[0], "vectors"));
  auto idx = index;
  return run_async(info.Env(), [idx, x] { idx->train(x->data(), x->size() / static_cast<size_t>(idx->dim())); },
                   [](Napi::Env env) { return env.Undefined(); });
}

// add(vectors, ids | null)
Napi::Value VectorIndexWrap::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = std::make_shared<std::vector<float>>(copy_floats(env, info[0], "vectors"));
  auto ids = std::make_shared<std::vector<int64_t>>();
  if (!info[1].IsNull() && !info[1].IsUndefined()) *ids = copy_ids(env, info[1], "ids");
  auto idx = index;
  return run_async(
      env, [idx, x, ids] { idx->add(x->data(), x->size() / static_cast<size_t>(idx->dim()), ids->empty() ? nullptr : ids->data()); },
      [](Napi::Env env) { return env.Undefined(); });
}

namespace {
// Search knobs arrive as two numbers (0: the index's own setting) rather than an object: no
// property lookups on the per-query path.
index::SearchParams search_params(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto knob = [&](size_t i, const char* name, double max) {
    if (!info[i].IsNumber()) return 0.0;
    const double v = info[i].As<Napi::Number>().DoubleValue();
    CR_THROW_TYPE_IF(!(v >= 0 && v <= max), env, std::string(name) + " must be between 0 and " + std::to_string(static_cast<int64_t>(max)));
    return v;
  };
  index::SearchParams p;
  p.nprobe = static_cast<int64_t>(knob(2, "nprobe", 1 << 30));
  p.ef_search = static_cast<int>(knob(3, "efSearch", 1 << 20));
  p.k_factor = static_cast<float>(knob(4, "kFactor", 4096));
  return p;
}

// The result object the TS facade returns as is: { ids, scores, nq, k }.
struct SearchResultJs {
  Napi::TypedArrayOf<int64_t> ids;
  Napi::Float32Array scores;
  Napi::Object object;
  SearchResultJs(Napi::Env env, size_t nq, size_t k)
      : ids(Napi::TypedArrayOf<int64_t>::New(env, nq * k, napi_bigint64_array)),
        scores(Napi::Float32Array::New(env, nq * k)),
        object(Napi::Object::New(env)) {
    object.Set("ids", ids);
    object.Set("scores", scores);
    object.Set("nq", static_cast<double>(nq));
    object.Set("k", static_cast<double>(k));
  }
};
}  // namespace

// search(queries, k, nprobe, efSearch) -> Promise<{ ids: BigInt64Array, scores: Float32Array, nq, k }>
Napi::Value VectorIndexWrap::Search(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct Job {
    std::vector<float> q;
    std::vector<float> scores;
    std::vector<int64_t> ids;
  };
  auto job = std::make_shared<Job>();
  job->q = copy_floats(env, info[0], "queries");
  const auto [nq, k] = search_shape(env, info[1], job->q.size(), index->dim());
  const index::SearchParams p = search_params(info);
  auto idx = index;
  return run_search_async(
      env,
      [idx, job, nq, k, p] {
        job->scores.resize(nq * k);
        job->ids.resize(nq * k);
        idx->search(job->q.data(), nq, k, p, job->scores.data(), job->ids.data());
      },
      [job, nq, k](Napi::Env env) {
        SearchResultJs r(env, nq, k);
        std::copy(job->ids.begin(), job->ids.end(), r.ids.Data());
        std::copy(job->scores.begin(), job->scores.end(), r.scores.Data());
        return r.object;
      });
}

// searchSync: the same on the JS thread, reading the query in place and writing the results
// straight into the arrays it returns.
Napi::Value VectorIndexWrap::SearchSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array q = get_typed<float>(env, info[0], "queries", napi_float32_array, "Float32Array");
  const auto [nq, k] = search_shape(env, info[1], q.ElementLength(), index->dim());
  const index::SearchParams p = search_params(info);
  SearchResultJs r(env, nq, k);
  inflight::Scope running;  // a worker thread's call may still run while the process exits
  sync(env, [&] { index->search(q.Data(), nq, k, p, r.scores.Data(), r.ids.Data()); });
  return r.object;
}

Napi::Value VectorIndexWrap::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int64_t> ids = copy_ids(env, info[0], "ids");
  return Napi::Number::New(env, static_cast<double>(sync(env, [&] { return index->remove(ids.data(), ids.size()); })));
}

Napi::Value VectorIndexWrap::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto idx = index;
  return run_async(env, [idx, path] { idx->save(path); }, [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value VectorIndexWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("dim", index->dim());
  o.Set("ntotal", static_cast<double>(index->ntotal()));
  o.Set("isTrained", index->is_trained());
  o.Set("nlist", static_cast<double>(index->nlist()));
  o.Set("metric", index->metric() == index::Metric::InnerProduct ? "ip" : "l2");
  o.Set("description", index->description());
  return o;
}

// NativeVectorIndex.faissInfo() -> { version, simdLevel, dynamicDispatch, availableLevels }
Napi::Value VectorIndexWrap::FaissInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const index::FaissBuildInfo b = index::faiss_build_info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", b.version);
  o.Set("simdLevel", b.simd_level);
  o.Set("dynamicDispatch", b.dynamic_dispatch);
  Napi::Array levels = Napi::Array::New(env, b.available.size());
  for (size_t i = 0; i < b.available.size(); ++i) levels.Set(static_cast<uint32_t>(i), b.available[i]);
  o.Set("availableLevels", levels);
  return o;
}

// NativeVectorIndex.load(path) -> Promise<NativeVectorIndex>
Napi::Value VectorIndexWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto loaded = std::make_shared<std::shared_ptr<index::VectorIndex>>();
  auto ctor = std::make_shared<Napi::FunctionReference>(Napi::Persistent(info.This().As<Napi::Function>()));
  return run_async(env, [path, loaded] { *loaded = index::VectorIndex::load(path); },
                   [loaded, ctor](Napi::Env env) -> Napi::Value {
                     Napi::Object obj = ctor->New({Napi::External<int>::New(env, &load_token)});
                     VectorIndexWrap::Unwrap(obj)->index = *loaded;
                     return obj;
                   });
}

// ---- BM25 -----------------------------------------------------------------------------------

Napi::Function Bm25Wrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeBm25",
                     {InstanceMethod("add", &Bm25Wrap::Add), InstanceMethod("search", &Bm25Wrap::Search),
                      InstanceMethod("remove", &Bm25Wrap::Remove), InstanceMethod("analyze", &Bm25Wrap::Analyze),
                      InstanceMethod("save", &Bm25Wrap::Save), InstanceMethod("info", &Bm25Wrap::Info),
                      StaticMethod("load", &Bm25Wrap::Load)});
}

// new NativeBm25({ k1, b, stemmer, stopwords }) or new NativeBm25() (filled by load)
Bm25Wrap::Bm25Wrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Bm25Wrap>(info) {
  Napi::Env env = info.Env();
  if (is_load_call(info)) return;
  Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  index::Bm25Params p;
  p.k1 = static_cast<float>(get_number(o, "k1", 0.9));
  p.b = static_cast<float>(get_number(o, "b", 0.4));
  index::AnalyzerOptions a;
  a.stemmer = get_string(o, "stemmer", "porter");
  a.stopwords = get_bool(o, "stopwords", true);
  index = sync(env, [&] { return std::make_shared<index::Bm25Index>(p, a); });
}

namespace {
std::vector<std::string> strings_of(Napi::Env env, Napi::Value v, const char* name) {
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
}  // namespace

// add(texts, threads) -> Promise<first document number>
Napi::Value Bm25Wrap::Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto texts = std::make_shared<std::vector<std::string>>(strings_of(env, info[0], "texts"));
  const unsigned threads = info[1].IsUndefined() ? 1u : static_cast<unsigned>(get_integer(env, info[1], "threads", 1, 1024));
  auto idx = index;
  auto first = std::make_shared<uint32_t>(0);
  return run_async(env, [idx, texts, threads, first] { *first = idx->add(*texts, threads); },
                   [first](Napi::Env env) { return Napi::Number::New(env, *first); });
}

// search(queries, k, threads, exhaustive) -> Promise<[{ docs: Uint32Array, scores: Float32Array }]>
Napi::Value Bm25Wrap::Search(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto queries = std::make_shared<std::vector<std::string>>(strings_of(env, info[0], "queries"));
  const size_t k = static_cast<size_t>(get_integer(env, info[1], "k", 1, 1 << 24));
  const unsigned threads = info[2].IsUndefined() ? 1u : static_cast<unsigned>(get_integer(env, info[2], "threads", 1, 1024));
  const bool exhaustive = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  auto idx = index;
  auto out = std::make_shared<std::vector<std::vector<index::Hit>>>(queries->size());
  return run_search_async(
      env,
      [idx, queries, k, threads, exhaustive, out] {
        std::atomic<size_t> next{0};
        auto work = [&] {
          for (size_t i; (i = next.fetch_add(1)) < queries->size();) (*out)[i] = idx->search((*queries)[i], k, exhaustive);
        };
        run_on_threads(std::min<unsigned>(threads, static_cast<unsigned>(queries->size())), work);
      },
      [out](Napi::Env env) { return hits_to_js(env, *out); });
}

Napi::Value Bm25Wrap::Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array a = get_typed<uint32_t>(env, info[0], "docs", napi_uint32_array, "Uint32Array");
  std::vector<uint32_t> docs(a.Data(), a.Data() + a.ElementLength());
  return Napi::Number::New(env, sync(env, [&] { return index->remove(docs); }));
}

Napi::Value Bm25Wrap::Analyze(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "text must be a string");
  std::vector<std::string> toks;
  sync(env, [&] { index->analyzer().analyze(info[0].As<Napi::String>().Utf8Value(), toks); });
  Napi::Array out = Napi::Array::New(env, toks.size());
  for (size_t i = 0; i < toks.size(); ++i) out.Set(static_cast<uint32_t>(i), toks[i]);
  return out;
}

Napi::Value Bm25Wrap::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto idx = index;
  return run_async(env, [idx, path] { idx->save(path); }, [](Napi::Env env) { return env.Undefined(); });
}

Napi::Value Bm25Wrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", index->size());
  o.Set("live", index->live());
  o.Set("terms", static_cast<double>(index->terms()));
  o.Set("k1", index->params().k1);
  o.Set("b", index->params().b);
  o.Set("stemmer", index->analyzer().options().stemmer);
  o.Set("stopwords", index->analyzer().options().stopwords);
  return o;
}

Napi::Value Bm25Wrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CR_THROW_TYPE_IF(!info[0].IsString(), env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  auto loaded = std::make_shared<std::shared_ptr<index::Bm25Index>>();
  auto ctor = std::make_shared<Napi::FunctionReference>(Napi::Persistent(info.This().As<Napi::Function>()));
  return run_async(env, [path, loaded] { *loaded = index::Bm25Index::load(path); },
                   [loaded, ctor](Napi::Env env) -> Napi::Value {
                     Napi::Object obj = ctor->New({Napi::External<int>::New(env, &load_token)});
                     Bm25Wrap::Unwrap(obj)->index = *loaded;
                     return obj;
                   });
}

}  // namespace crossrank::bind
