// Native work in flight, process-wide, so that process exit can wait for it.
//
// exit() runs the libraries' finalizers (OpenBLAS frees its buffers, OpenMP and ONNX Runtime tear
// down) while threads of ours may still be inside them: a search's matrix product, a model run, a
// FAISS add on the libuv pool, or a worker thread's synchronous call. Each such job holds a Scope;
// the addon's exit hook (bindings/addon.cc) marks the process as exiting, which long jobs poll to
// stop early (inflight::exiting()), and waits for the running ones before the finalizers run.
// No N-API here.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace crossrank::inflight {

struct State {
  std::mutex mu;
  std::condition_variable idle;
  size_t running = 0;     // guarded by mu
  std::atomic<bool> exiting{false};
};

// Never destroyed: it is used by the exit hook, after static destructors may have started.
inline State& state() {
  static State* s = new State();
  return *s;
}

// Counts one job as running for its lifetime.
class Scope {
 public:
  Scope() {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.running;
  }
  ~Scope() {
    State& s = state();
    {
      std::lock_guard<std::mutex> lock(s.mu);
      --s.running;
    }
    s.idle.notify_all();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

// True once the process has begun to exit: long jobs stop between steps.
inline bool exiting() { return state().exiting.load(std::memory_order_relaxed); }

// Marks the process as exiting: long jobs stop at their next step. Called from the main thread's
// 'exit' event (src/native.ts), before Node waits for its thread pool to go idle.
inline void begin_exit() { state().exiting.store(true, std::memory_order_relaxed); }

// Marks the process as exiting and waits up to `limit` for running jobs to end. False when some
// are still running (a FAISS train cannot be interrupted).
inline bool drain(std::chrono::milliseconds limit) {
  State& s = state();
  std::unique_lock<std::mutex> lock(s.mu);
  s.exiting.store(true, std::memory_order_relaxed);
  return s.idle.wait_for(lock, limit, [&s] { return s.running == 0; });
}

}  // namespace crossrank::inflight
