// Fan-out of one job over a few threads that survives a failed thread creation.
#pragma once
#include <exception>
#include <thread>
#include <vector>

namespace crossrank {

// Runs `work` on the calling thread and on up to `threads - 1` more, then joins them. `work` must
// share the job out itself (each call takes items until none are left), so it is correct with any
// number of threads. A thread that cannot be started (address space, memory or the process's
// thread limit exhausted) is not an error: the threads that did start, the caller's at least, do
// all the work.
template <typename F>
void run_on_threads(unsigned threads, const F& work) {
  std::vector<std::thread> pool;
  if (threads > 1) {
    try {
      pool.reserve(threads - 1);
      for (unsigned k = 1; k < threads; ++k) pool.emplace_back(work);
    } catch (const std::exception&) {
      // std::system_error from pthread_create, or std::bad_alloc: go on with what started.
    }
  }
  work();
  for (auto& t : pool) t.join();
}

}  // namespace crossrank
