// Executor: the only source of threads in lancer. Library code never spawns
// threads itself; callers pass an Executor in. parallel_for splits [0, n) into
// contiguous chunks and blocks until all are done; the calling thread works too.
// Results must not depend on how chunks map to threads (fixed reduction order
// is the caller's job). Thread-safe: many callers may share one pool.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace lancer::core {

class Executor {
 public:
  virtual ~Executor() = default;
  // Total workers including the caller of parallel_for.
  virtual int num_threads() const = 0;
  // Runs fn(begin, end) over disjoint ranges covering [0, n), each at most
  // `grain` long (grain 0 = n / num_threads rounded up). Blocks until done.
  // If fn throws, ranges not yet started are skipped and the first exception is
  // rethrown on the caller once no thread runs fn any more.
  virtual void parallel_for(size_t n, size_t grain,
                            const std::function<void(size_t, size_t)>& fn) = 0;
};

// Runs everything on the calling thread.
class InlineExecutor final : public Executor {
 public:
  int num_threads() const override { return 1; }
  void parallel_for(size_t n, size_t grain,
                    const std::function<void(size_t, size_t)>& fn) override;
};

class ThreadPool final : public Executor {
 public:
  // num_threads <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const override { return static_cast<int>(workers_.size()) + 1; }
  void parallel_for(size_t n, size_t grain,
                    const std::function<void(size_t, size_t)>& fn) override;

 private:
  void worker_loop();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::queue<std::function<void()>> tasks_;
  bool stopping_ = false;
};

}  // namespace lancer::core
