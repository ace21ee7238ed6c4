#include "core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
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

}  // namespace
}  // namespace lancer::core
