#include "bindings/search_dispatch.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

#include "bindings/addon_data.h"
#include "bindings/napi_util.h"
#include "common/spin_executor.h"

namespace crossrank::bind {

namespace {

struct SearchJob {
  SearchJob(Napi::Env env, std::function<void()> w, std::function<Napi::Value(Napi::Env)> d)
      : deferred(Napi::Promise::Deferred::New(env)), work(std::move(w)), done(std::move(d)) {}
  Napi::Promise::Deferred deferred;
  std::function<void()> work;
  std::function<Napi::Value(Napi::Env)> done;
  bool ok = true;
  std::string code, message;
};

// A non-negative integer from the environment, or `dflt` when unset; anything else is an error
// that names the variable.
long env_count(Napi::Env env, const char* name, long dflt, long min, long max) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return dflt;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < min || n > max) {
    throw make_error(env, "ERR_INVALID_ARG_VALUE",
                     std::string(name) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                         ", got \"" + v + "\"");
  }
  return n;
}

// CPUs this process may run on (its affinity mask, as `taskset` or a container sets it).
long usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  return static_cast<long>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

class SearchDispatcher {
 public:
  explicit SearchDispatcher(Napi::Env env) {
    const long cpus = usable_cpus();
    const long threads = env_count(env, "CROSSRANK_SEARCH_THREADS", std::max(2L, std::min(cpus, 8L)), 1, 256);
    // On a single CPU a spinning search thread would only delay the JS thread it waits for.
    const long spin_us = env_count(env, "CROSSRANK_SEARCH_SPIN_US", cpus > 1 ? 100 : 0, 0, 100000);
    try {
      exec_ = std::make_unique<SpinExecutor>(static_cast<unsigned>(threads), std::chrono::microseconds(spin_us));
    } catch (const std::exception& e) {
      throw from_exception(env, e);  // ERR_THREADS: not one search thread could start
    }
    tsfn_ = Tsfn::New(env, "crossrank.search", 0, 1, this);
    tsfn_.Unref(env);  // only pending searches keep the event loop alive
    // Cleanup hooks run in reverse order of registration, so this one runs before Node finalizes
    // the thread-safe function: running searches finish and hand back their results first.
    env.AddCleanupHook([this] {
      exec_->shutdown();
      tsfn_.Release();
    });
  }

  Napi::Promise submit(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done) {
    auto* job = new SearchJob(env, std::move(work), std::move(done));
    Napi::Promise promise = job->deferred.Promise();
    if (pending_++ == 0) tsfn_.Ref(env);
    const bool queued = exec_->submit([this, job] {
      {
        inflight::Scope running;
        if (inflight::exiting()) {
          job->ok = false;
          job->code = "ERR_ABORTED";
          job->message = "the process is exiting";
        } else {
          job->ok = run_capturing(job->work, job->code, job->message);
        }
      }
      if (tsfn_.NonBlockingCall(job) != napi_ok) delete job;  // the environment is going away
    });
    if (!queued) {
      job->ok = false;
      finish(env, job, make_error(env, "ERR_NATIVE", "search threads have shut down").Value());
    }
    return promise;
  }

 private:
  static void complete(Napi::Env env, Napi::Function, SearchDispatcher* self, SearchJob* job) {
    if (env == nullptr) {  // torn down before delivery
      delete job;
      return;
    }
    Napi::HandleScope scope(env);
    Napi::Value result;
    if (!job->ok) {
      result = make_error(env, job->code, job->message).Value();
    } else {
      try {
        result = job->done(env);
      } catch (const Napi::Error& e) {
        job->ok = false;
        result = e.Value();
      }
    }
    self->finish(env, job, result);
  }

  void finish(Napi::Env env, SearchJob* job, Napi::Value result) {
    if (job->ok) job->deferred.Resolve(result);
    else job->deferred.Reject(result);
    delete job;
    if (--pending_ == 0) tsfn_.Unref(env);
  }

  using Tsfn = Napi::TypedThreadSafeFunction<SearchDispatcher, SearchJob, &SearchDispatcher::complete>;
  Tsfn tsfn_;
  std::unique_ptr<SpinExecutor> exec_;
  size_t pending_ = 0;  // JS thread only
};

Napi::Promise run_search_async(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> done) {
  AddonData& data = addon_data(env);
  if (!data.search) data.search = std::make_shared<SearchDispatcher>(env);
  return data.search->submit(env, std::move(work), std::move(done));
}

}  // namespace crossrank::bind
