#include "common/spin_executor.h"

#include <string>

#include "common/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace crossrank {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#else
  std::this_thread::yield();
#endif
}
}  // namespace

SpinExecutor::SpinExecutor(unsigned threads, std::chrono::microseconds spin) : spin_(spin) {
  // Threads that cannot be started (address space or thread limit exhausted) are done without;
  // with none at all, the executor is unusable and says so.
  try {
    workers_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  } catch (const std::exception& e) {
    if (workers_.empty()) throw Error("ERR_THREADS", std::string("cannot start search threads: ") + e.what());
  }
}

SpinExecutor::~SpinExecutor() { shutdown(); }

bool SpinExecutor::submit(std::function<void()> job) {
  bool wake;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) return false;
    queue_.push_back(std::move(job));
    queued_.store(queue_.size(), std::memory_order_release);
    // A spinning worker takes one job without a wake-up; wake a parked one for any beyond that.
    wake = queue_.size() > spinning_;
  }
  if (wake) cv_.notify_one();
  return true;
}

void SpinExecutor::shutdown() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_ && workers_.empty()) return;
    stop_ = true;
    stopping_.store(true, std::memory_order_release);
    dropped.swap(queue_);
    queued_.store(0, std::memory_order_release);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  // `dropped` is destroyed here, on the caller's thread, with the lock released.
}

void SpinExecutor::spin_for_work() {
  const auto deadline = std::chrono::steady_clock::now() + spin_;
  for (unsigned i = 1;; ++i) {
    if (queued_.load(std::memory_order_acquire) > 0 || stopping_.load(std::memory_order_acquire)) return;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return;
  }
}

void SpinExecutor::run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    // Run jobs back to back; after each, poll briefly (one worker at a time) before parking.
    while (!queue_.empty() && !stop_) {
      std::function<void()> job = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_release);
      lk.unlock();
      job();
      job = nullptr;  // release what it captured before waiting again
      lk.lock();
      if (queue_.empty() && !stop_ && spin_.count() > 0 && spinning_ == 0) {
        ++spinning_;
        lk.unlock();
        spin_for_work();
        lk.lock();
        --spinning_;
      }
    }
  }
}

}  // namespace crossrank
