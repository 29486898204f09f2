#include "inference/session.h"

#include <onnxruntime_cxx_api.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "common/error.h"

namespace crossrank::infer {

namespace {

// One Ort::Env per process. Deliberately never destroyed: sessions may outlive static destruction
// order at exit (worker threads), and ORT tolerates a leaked env.
Ort::Env& env() {
  static Ort::Env* e = new Ort::Env(ORT_LOGGING_LEVEL_ERROR, "crossrank");
  return *e;
}

std::mutex registry_mu;
std::map<std::string, std::weak_ptr<Session>>& registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<Session>>();
  return *r;
}

bool feed_for(const std::string& name, Feed& f) {
  if (name == "input_ids") f = Feed::InputIds;
  else if (name == "attention_mask") f = Feed::AttentionMask;
  else if (name == "token_type_ids") f = Feed::TokenTypeIds;
  else if (name == "position_ids") f = Feed::PositionIds;
  else return false;
  return true;
}

// Tries the CUDA execution provider; false (with the reason) when it cannot be used.
bool append_cuda(Ort::SessionOptions& so, int device_id, std::string& why) {
  const OrtApi& api = Ort::GetApi();
  OrtCUDAProviderOptionsV2* cuda = nullptr;
  if (OrtStatus* st = api.CreateCUDAProviderOptions(&cuda)) {
    why = api.GetErrorMessage(st);
    api.ReleaseStatus(st);
    return false;
  }
  std::string dev = std::to_string(device_id);
  const char* keys[] = {"device_id"};
  const char* vals[] = {dev.c_str()};
  OrtStatus* st = api.UpdateCUDAProviderOptions(cuda, keys, vals, 1);
  if (!st) st = api.SessionOptionsAppendExecutionProvider_CUDA_V2(so, cuda);
  api.ReleaseCUDAProviderOptions(cuda);
  if (st) {
    why = api.GetErrorMessage(st);
    api.ReleaseStatus(st);
    return false;
  }
  return true;
}

}  // namespace

std::string SessionConfig::key() const {
  return "intra=" + std::to_string(intra_threads) + ";inter=" + std::to_string(inter_threads) + ";device=" + device +
         ":" + std::to_string(device_id) + ";opt=" + (optimize ? "1" : "0") + ";spin=" + (spinning ? "1" : "0");
}

std::shared_ptr<Session> Session::acquire(const std::string& path, const SessionConfig& cfg) {
  std::error_code ec;
  std::filesystem::path canon = std::filesystem::canonical(path, ec);
  if (ec || !std::filesystem::is_regular_file(canon))
    throw Error("ERR_MODEL_NOT_FOUND", "model file not found: " + path);
  const std::string key = canon.string() + "|" + cfg.key();

  std::lock_guard<std::mutex> lock(registry_mu);
  env();  // ORT's logger must exist before provider options are created
  auto& reg = registry();
  if (auto it = reg.find(key); it != reg.end())
    if (auto live = it->second.lock()) return live;

  std::shared_ptr<Session> s(new Session());
  s->path_ = canon.string();
  auto base_options = [&cfg] {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(cfg.intra_threads);
    so.SetInterOpNumThreads(cfg.inter_threads);
    so.SetGraphOptimizationLevel(cfg.optimize ? GraphOptimizationLevel::ORT_ENABLE_ALL
                                              : GraphOptimizationLevel::ORT_DISABLE_ALL);
    so.AddConfigEntry("session.intra_op.allow_spinning", cfg.spinning ? "1" : "0");
    return so;
  };
  try {
    Ort::SessionOptions so = base_options();
    s->provider_ = "cpu";
    if (cfg.device == "cuda" || cfg.device == "auto") {
      std::string why;
      if (append_cuda(so, cfg.device_id, why)) {
        s->provider_ = "cuda";
      } else if (cfg.device == "cuda") {
        throw Error("ERR_DEVICE_UNAVAILABLE", "device 'cuda' requested but the CUDA execution provider cannot be used: " + why);
      }
    }
    try {
      s->session_ = std::make_unique<Ort::Session>(env(), canon.c_str(), so);
    } catch (const Ort::Exception& e) {
      // The CUDA provider library is loaded lazily: its absence can surface only here.
      if (s->provider_ != "cuda") throw;
      if (cfg.device == "cuda")
        throw Error("ERR_DEVICE_UNAVAILABLE", std::string("device 'cuda' requested but the CUDA execution provider failed: ") + e.what());
      s->provider_ = "cpu";
      s->session_ = std::make_unique<Ort::Session>(env(), canon.c_str(), base_options());
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("ERR_MODEL_LOAD", "cannot load ONNX model " + path + ": " + e.what());
  }

  Ort::AllocatorWithDefaultOptions alloc;
  const size_t n_in = s->session_->GetInputCount();
  std::vector<std::string> unknown;
  for (size_t i = 0; i < n_in; ++i) {
    std::string name = s->session_->GetInputNameAllocated(i, alloc).get();
    Feed f;
    if (!feed_for(name, f)) {
      unknown.push_back(name);
      continue;
    }
    auto type = s->session_->GetInputTypeInfo(i).GetTensorTypeAndShapeInfo().GetElementType();
    if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 && type != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32)
      throw Error("ERR_MODEL_INPUTS", "model " + path + ": input '" + name + "' must be int64 or int32");
    s->inputs_.push_back(InputSpec{name, f, type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32});
  }
  if (!unknown.empty()) {
    std::string names;
    for (auto& u : unknown) names += (names.empty() ? "'" : ", '") + u + "'";
    throw Error("ERR_MODEL_INPUTS", "model " + path + " has inputs this library cannot feed: " + names +
                                        " (known: input_ids, attention_mask, token_type_ids, position_ids)");
  }
  if (!s->has_input(Feed::InputIds))
    throw Error("ERR_MODEL_INPUTS", "model " + path + " lacks the required input 'input_ids'");
  const size_t n_out = s->session_->GetOutputCount();
  for (size_t i = 0; i < n_out; ++i) {
    OutputSpec o;
    o.name = s->session_->GetOutputNameAllocated(i, alloc).get();
    auto info = s->session_->GetOutputTypeInfo(i);
    if (info.GetONNXType() == ONNX_TYPE_TENSOR) o.shape = info.GetTensorTypeAndShapeInfo().GetShape();
    s->outputs_.push_back(std::move(o));
  }
  s->key_ = key;  // set last: a session that failed to load never touches the registry
  reg[key] = s;
  return s;
}

size_t Session::live_sessions() {
  std::lock_guard<std::mutex> lock(registry_mu);
  size_t n = 0;
  for (auto& [k, w] : registry()) n += w.expired() ? 0 : 1;
  return n;
}

Session::~Session() {
  if (key_.empty()) return;
  std::lock_guard<std::mutex> lock(registry_mu);
  auto& reg = registry();
  if (auto it = reg.find(key_); it != reg.end() && it->second.expired()) reg.erase(it);
}

const OutputSpec* Session::output(const std::string& name) const {
  for (auto& o : outputs_)
    if (o.name == name) return &o;
  return nullptr;
}

bool Session::has_input(Feed f) const {
  for (auto& i : inputs_)
    if (i.feed == f) return true;
  return false;
}

RunOutput Session::run(const batch::BatchTensors& b, const std::string& output) const {
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const int64_t shape[2] = {static_cast<int64_t>(b.rows), static_cast<int64_t>(b.cols)};
  const size_t n = b.rows * b.cols;
  std::vector<int64_t> positions;
  std::vector<std::vector<int32_t>> narrow;  // int32 copies for models that want them
  narrow.reserve(inputs_.size());  // pointers into it must stay valid
  std::vector<Ort::Value> values;
  std::vector<const char*> names;
  values.reserve(inputs_.size());
  for (const auto& in : inputs_) {
    const std::vector<int64_t>* src = nullptr;
    switch (in.feed) {
      case Feed::InputIds: src = &b.ids; break;
      case Feed::AttentionMask: src = &b.mask; break;
      case Feed::TokenTypeIds: src = &b.types; break;
      case Feed::PositionIds:
        positions.resize(n);
        for (size_t r = 0; r < b.rows; ++r)
          for (size_t c = 0; c < b.cols; ++c) positions[r * b.cols + c] = static_cast<int64_t>(c);
        src = &positions;
        break;
    }
    if (in.int32) {
      narrow.emplace_back(src->begin(), src->end());
      values.push_back(Ort::Value::CreateTensor<int32_t>(mem, narrow.back().data(), n, shape, 2));
    } else {
      values.push_back(Ort::Value::CreateTensor<int64_t>(mem, const_cast<int64_t*>(src->data()), n, shape, 2));
    }
    names.push_back(in.name.c_str());
  }
  const char* out_name = output.c_str();
  try {
    std::vector<Ort::Value> outs = session_->Run(Ort::RunOptions{nullptr}, names.data(), values.data(), values.size(),
                                                 &out_name, 1);
    auto info = outs[0].GetTensorTypeAndShapeInfo();
    if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
      throw Error("ERR_MODEL_OUTPUTS", "model output '" + output + "' is not float32");
    RunOutput r;
    r.shape = info.GetShape();
    const float* p = outs[0].GetTensorData<float>();
    r.data.assign(p, p + info.GetElementCount());
    return r;
  } catch (const Ort::Exception& e) {
    throw Error("ERR_INFERENCE", std::string("ONNX Runtime failed: ") + e.what());
  }
}

}  // namespace crossrank::infer
