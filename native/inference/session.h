// ONNX Runtime sessions shared process-wide. Every CrossEncoder/BiEncoder handle, in any worker
// thread, that asks for the same model file with the same options gets the same Ort::Session, so N
// Piscina workers hold one copy of the weights. Ort::Session::Run is safe to call concurrently.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "batching/batch.h"

namespace Ort {
struct Session;
}

namespace crossrank::infer {

struct SessionConfig {
  int intra_threads = 1;        // 0: ORT's default (one per core)
  int inter_threads = 1;
  std::string device = "cpu";   // "cpu", "cuda" (fail if unavailable) or "auto" (cuda, else cpu)
  int device_id = 0;
  bool optimize = true;         // ORT_ENABLE_ALL graph optimizations
  bool spinning = true;         // intra-op threads spin between ops (faster, burns CPU when idle)
  std::string key() const;
};

// The model inputs this library knows how to feed, found by name in the session.
enum class Feed { InputIds, AttentionMask, TokenTypeIds, PositionIds };

struct InputSpec {
  std::string name;
  Feed feed;
  bool int32;  // element type int32 rather than int64
};

struct OutputSpec {
  std::string name;
  std::vector<int64_t> shape;  // as declared; -1 for dynamic dims
};

struct RunOutput {
  std::vector<float> data;
  std::vector<int64_t> shape;
};

class Session {
 public:
  // Opens (or reuses) the session for `path` with `cfg`. Throws crossrank::Error:
  // ERR_MODEL_NOT_FOUND, ERR_MODEL_LOAD, ERR_MODEL_INPUTS, ERR_DEVICE_UNAVAILABLE.
  static std::shared_ptr<Session> acquire(const std::string& path, const SessionConfig& cfg);
  // How many distinct sessions are alive in this process (for tests and stats).
  static size_t live_sessions();

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs one batch and returns the output called `output` (float32, any shape). Throws ERR_INFERENCE.
  RunOutput run(const batch::BatchTensors& batch, const std::string& output) const;

  const std::vector<InputSpec>& inputs() const { return inputs_; }
  const std::vector<OutputSpec>& outputs() const { return outputs_; }
  const OutputSpec* output(const std::string& name) const;
  bool has_input(Feed f) const;
  const std::string& provider() const { return provider_; }
  const std::string& path() const { return path_; }
  const std::string& key() const { return key_; }
  // Session-level identity: same pointer for every holder of this session.
  uintptr_t id() const { return reinterpret_cast<uintptr_t>(this); }

 private:
  Session() = default;
  std::unique_ptr<Ort::Session> session_;
  std::vector<InputSpec> inputs_;
  std::vector<OutputSpec> outputs_;
  std::string provider_, path_, key_;
};

}  // namespace crossrank::infer
