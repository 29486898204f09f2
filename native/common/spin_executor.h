// A small pool of threads for short, latency-bound jobs (first-stage searches: an HNSW or IVF query
// takes 0.1–5 ms). Two things set it apart from libuv's pool, which the rest of the addon uses:
//  - Searches never queue behind long jobs (cross-encoder inference, index builds, file I/O) that
//    occupy libuv's four threads, and those never wait for searches.
//  - A thread that has just finished a job keeps polling the queue for `spin` before it parks, so a
//    query that follows another (the usual shape of a server's or a benchmark's loop) starts without
//    a futex wake-up. On VMs whose idle vCPUs halt at once, that wake-up is 30–40 µs, 2 % of an IVF
//    query. At most one thread spins at a time; `spin` = 0 turns it off.
// No N-API here: the bindings layer carries results back to JS.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace crossrank {

class SpinExecutor {
 public:
  // `threads` workers start here and run until shutdown().
  SpinExecutor(unsigned threads, std::chrono::microseconds spin);
  ~SpinExecutor();
  SpinExecutor(const SpinExecutor&) = delete;
  SpinExecutor& operator=(const SpinExecutor&) = delete;

  // Queue a job (it must not throw). False once shut down: the job was not taken.
  bool submit(std::function<void()> job);
  // Drop what is still queued, let running jobs finish, join the workers. Idempotent.
  void shutdown();

  unsigned threads() const { return static_cast<unsigned>(workers_.size()); }

 private:
  void run();
  void spin_for_work();

  const std::chrono::microseconds spin_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t spinning_ = 0;                      // guarded by mu_: workers polling instead of parked
  bool stop_ = false;                        // guarded by mu_
  std::atomic<size_t> queued_{0};            // queue_.size(), readable without the lock by a spinner
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

}  // namespace crossrank
