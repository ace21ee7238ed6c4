#include "core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace lancer::core {
namespace {

void check_covers_range_once(Executor& ex, size_t n, size_t grain) {
  std::vector<std::atomic<int>> hits(n);
  ex.parallel_for(n, grain, [&](size_t b, size_t e) {
    ASSERT_LT(b, e);
    ASSERT_LE(e, n);
    if (grain != 0) {
      ASSERT_LE(e - b, grain);
    }
    for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
}

TEST(Executor, InlineCoversRange) {
  InlineExecutor ex;
  check_covers_range_once(ex, 1000, 7);
  check_covers_range_once(ex, 5, 0);
  check_covers_range_once(ex, 0, 3);
}

TEST(Executor, PoolCoversRangeManyTimes) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.num_threads(), 4);
  for (int rep = 0; rep < 50; ++rep) {
    check_covers_range_once(pool, 10007, 64);
    check_covers_range_once(pool, 3, 1);
    check_covers_range_once(pool, 100, 0);
  }
}

// A throw on a pool thread must not terminate the process, and one on the caller must not
// return while helpers still run the caller's (by then destroyed) function.
TEST(Executor, AThrowReachesTheCallerAfterEveryChunkStopped) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 20; ++rep) {
    for (size_t thrower : {size_t{0}, size_t{5}, size_t{63}}) {
      std::atomic<int> running{0}, after{0};
      std::atomic<bool> returned{false};
      try {
        pool.parallel_for(64, 1, [&](size_t b, size_t) {
          running.fetch_add(1);
          if (b == thrower) {
            running.fetch_sub(1);
            throw std::runtime_error("chunk " + std::to_string(b));
          }
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          if (returned.load()) after.fetch_add(1);
          running.fetch_sub(1);
        });
        ADD_FAILURE() << "no exception";
      } catch (const std::runtime_error& e) {
        returned = true;
        EXPECT_EQ(std::string(e.what()), "chunk " + std::to_string(thrower));
      }
      EXPECT_EQ(running.load(), 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      EXPECT_EQ(after.load(), 0);
    }
  }
  check_covers_range_once(pool, 1000, 7);  // the pool still works
}

}  // namespace
}  // namespace lancer::core
