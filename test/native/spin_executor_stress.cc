// Stress test of crossrank::SpinExecutor, built with -fsanitize=thread by test/index.test.ts.
// Several producers submit jobs while workers spin and park; every job must run exactly once, and
// shutdown with jobs still queued must drop them (destroying what they captured) without running
// them. Prints "ok <ran> <dropped>" and exits 0, or names the failure and exits 1.
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "common/spin_executor.h"

int main() {
  using crossrank::SpinExecutor;
  constexpr int kProducers = 4, kJobs = 5000;
  for (const int spin_us : {0, 50, 2000}) {
    std::vector<std::atomic<int>> runs(kProducers * kJobs);
    {
      SpinExecutor exec(3, std::chrono::microseconds(spin_us));
      std::vector<std::thread> producers;
      for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
          for (int j = 0; j < kJobs; ++j) {
            if (!exec.submit([&runs, i = p * kJobs + j] { runs[i].fetch_add(1); })) std::abort();
            if (j % 997 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));  // let workers park
          }
        });
      }
      for (auto& t : producers) t.join();
      // Wait for all of them before shutting down.
      for (;;) {
        long done = 0;
        for (auto& r : runs) done += r.load();
        if (done == kProducers * kJobs) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].load() != 1) {
        std::printf("spin %d: job %zu ran %d times\n", spin_us, i, runs[i].load());
        return 1;
      }
    }
  }
  // Shutdown while jobs are queued behind a slow one: the slow one finishes, the rest are dropped.
  std::atomic<int> ran{0};
  auto alive = std::make_shared<int>(0);
  {
    SpinExecutor exec(1, std::chrono::microseconds(100));
    std::atomic<bool> started{false};
    exec.submit([&] {
      started = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ran.fetch_add(1);
    });
    for (int j = 0; j < 100; ++j) exec.submit([&ran, alive] { ran.fetch_add(1); });
    while (!started) std::this_thread::yield();
    exec.shutdown();
    if (exec.submit([] {})) {
      std::printf("submit after shutdown was accepted\n");
      return 1;
    }
  }
  if (ran.load() != 1 || alive.use_count() != 1) {
    std::printf("after shutdown: %d ran, %ld references left\n", ran.load(), alive.use_count());
    return 1;
  }
  std::printf("ok %d %d\n", kProducers * kJobs * 3, 100);
  return 0;
}
