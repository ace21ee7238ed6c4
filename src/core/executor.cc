#include "core/executor.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>

#include "core/float_env.h"

namespace lancer::core {

void InlineExecutor::parallel_for(size_t n, size_t grain,
                                  const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (grain == 0) grain = n;
  for (size_t b = 0; b < n; b += grain) fn(b, std::min(n, b + grain));
}

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  const IeeeFloatScope ieee;  // a pool thread inherits its creator's float state
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_ && tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop();
    }
    task();
  }
}

void ThreadPool::parallel_for(size_t n, size_t grain,
                              const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  const size_t threads = static_cast<size_t>(num_threads());
  if (grain == 0) grain = (n + threads - 1) / threads;
  const size_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || workers_.empty()) {
    InlineExecutor().parallel_for(n, grain, fn);
    return;
  }
  // Chunks are claimed from a shared counter; the caller claims too. A chunk that throws (say
  // bad_alloc) never unwinds a pool thread: the first exception is kept, the chunks not yet
  // started are skipped, and the caller rethrows it once every helper has let go of `fn`.
  struct Shared {
    std::atomic<size_t> next{0};
    std::atomic<size_t> done{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // the first; written once, under mu
    std::mutex mu;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  auto run = [shared, n, grain, chunks, &fn] {
    for (;;) {
      size_t c = shared->next.fetch_add(1);
      if (c >= chunks) return;
      if (!shared->failed.load(std::memory_order_relaxed)) {
        try {
          fn(c * grain, std::min(n, (c + 1) * grain));
        } catch (...) {
          std::lock_guard<std::mutex> lock(shared->mu);
          if (!shared->error) shared->error = std::current_exception();
          shared->failed = true;
        }
      }
      if (shared->done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->cv.notify_all();
      }
    }
  };
  const size_t helpers = std::min(workers_.size(), chunks - 1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < helpers; ++i) tasks_.push(run);
  }
  cv_.notify_all();
  run();
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->cv.wait(lock, [&] { return shared->done.load() == chunks; });
  if (shared->error) std::rethrow_exception(shared->error);
}

}  // namespace lancer::core
