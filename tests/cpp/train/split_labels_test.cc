// nearest_labels_split: every rank of 1, 2 or 3 (threads as ranks), each with 1
// or 2 executor threads, gets the labels of one process's nearest_centroids.
#include "train/split_labels.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "linalg/nearest.h"
#include "train/thread_collective.h"

namespace lancer::train {
namespace {

TEST(NearestLabelsSplit, EveryRankGetsOneProcessLabels) {
  const size_t d = 20, k = 37;
  std::mt19937 gen(7);
  std::normal_distribution<float> g;
  // 3001 rows: runs of 1000 / 1000 / 1001 on 3 ranks, not whole assignment blocks;
  // 2 rows: a rank with none on 3 ranks.
  for (size_t n : {size_t{3001}, size_t{2}}) {
    std::vector<float> x(n * d), c(k * d);
    for (auto& v : x) v = g(gen);
    for (auto& v : c) v = g(gen);
    const linalg::MatrixView<const float> xv(x.data(), n, d), cv(c.data(), k, d);
    for (auto metric : {simd::Metric::kL2, simd::Metric::kDot}) {
      core::InlineExecutor one;
      std::vector<uint32_t> want(n);
      ASSERT_TRUE(linalg::nearest_centroids(xv, cv, metric, want, {}, one).ok());
      for (int ranks : {1, 2, 3}) {
        for (int threads : {1, 2}) {
          std::vector<std::vector<uint32_t>> got(static_cast<size_t>(ranks), std::vector<uint32_t>(n, 12345));
          testing::run_ranks(ranks, [&](core::Collective& collective) {
            std::unique_ptr<core::Executor> ex;
            if (threads == 1) {
              ex = std::make_unique<core::InlineExecutor>();
            } else {
              ex = std::make_unique<core::ThreadPool>(threads);
            }
            Status st = nearest_labels_split(xv, cv, metric, got[static_cast<size_t>(collective.rank())], *ex,
                                             ranks == 1 ? nullptr : &collective);
            EXPECT_TRUE(st.ok()) << st.to_string();
          });
          for (int r = 0; r < ranks; ++r) {
            EXPECT_EQ(got[static_cast<size_t>(r)], want)
                << "n " << n << " ranks " << ranks << " threads " << threads << " rank " << r;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace lancer::train
