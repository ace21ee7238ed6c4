// Distributed training through core::Collective: 1, 2 and 3 ranks (threads,
// see thread_collective.h), each with 1 or 2 executor threads, must give the
// model of one process bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/executor.h"
#include "simd/kernels.h"
#include "train/kmeans.h"
#include "train/pq.h"
#include "train/thread_collective.h"
#include "train/train_codec.h"

namespace lancer::train {
namespace {

std::vector<float> clustered(size_t n, size_t d, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g;
  std::vector<float> centres(30 * d), x(n * d);
  for (auto& v : centres) v = 3.0f * g(gen);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) x[i * d + j] = centres[(i * 7 % 30) * d + j] + g(gen);
  return x;
}

std::unique_ptr<core::Executor> executor(int threads) {
  if (threads == 1) return std::make_unique<core::InlineExecutor>();
  return std::make_unique<core::ThreadPool>(threads);
}

// Runs train(collective, executor) on `ranks` ranks and returns every rank's result.
template <class Model, class Train>
std::vector<std::shared_ptr<const Model>> on_ranks(int ranks, int threads, const Train& train,
                                                   bool shares_memory = false) {
  std::vector<std::shared_ptr<const Model>> got(static_cast<size_t>(ranks));
  testing::run_ranks(
      ranks,
      [&](core::Collective& collective) {
        auto ex = executor(threads);
        auto model = train(collective, *ex);
        EXPECT_TRUE(model.ok()) << model.status().to_string();
        if (model.ok()) got[static_cast<size_t>(collective.rank())] = *model;
      },
      shares_memory);
  return got;
}

void expect_same(const KMeansModel& a, const KMeansModel& b, const std::string& what) {
  EXPECT_EQ(a.centroids, b.centroids) << what;
  EXPECT_EQ(a.loss, b.loss) << what;
  EXPECT_EQ(a.iterations, b.iterations) << what;
}

TEST(DistributedKMeans, BitIdenticalToOneProcessForAnyRanksAndThreads) {
  const size_t d = 24;
  // 9000 rows: 5 blocks of the assignment (3 ranks own 1, 2, 2); 3000 rows:
  // 2 blocks (one of 3 ranks owns none).
  for (size_t n : {9000, 3000}) {
    const auto x = clustered(n, d, static_cast<uint32_t>(n));
    for (auto metric : {Metric::kL2, Metric::kCosine, Metric::kDot}) {
      for (int fanout : {0, 5, 6}) {
        KMeansParams params;
        params.top_rows_per_group = fanout == 6 ? 400 : 2048;  // 6: the top level on a subset
        params.num_clusters = 60;
        params.max_iters = 12;
        params.tolerance = fanout == 0 ? 1e-4 : 0.0;  // early stop and a fixed count
        params.seed = 5;
        params.metric = metric;
        params.hierarchical_fanout = fanout;
        // The top level on a subset reads, on each rank, only the rows it copied: its Lloyd
        // rows and the rows either initialisation draws from.
        if (fanout == 6 && n == 3000) params.init = KMeansInit::kRandom;
        const MatrixView<const float> view(x.data(), n, d);
        core::InlineExecutor one;
        auto ref = train_kmeans(view, params, one);
        ASSERT_TRUE(ref.ok()) << ref.status().to_string();
        for (int ranks : {1, 2, 3}) {
          for (int threads : {1, 2}) {
            // Sharing memory, two-level ranks take groups from a shared counter (whoever is free).
            for (bool shares : {false, true}) {
              if (shares && (ranks == 1 || fanout == 0)) continue;
              auto got = on_ranks<KMeansModel>(
                  ranks, threads,
                  [&](core::Collective& c, core::Executor& ex) { return train_kmeans(view, params, ex, &c); }, shares);
              for (int r = 0; r < ranks; ++r) {
                ASSERT_TRUE(got[r]);
                expect_same(*got[r], **ref,
                            std::string(simd::metric_name(metric)) + " n=" + std::to_string(n) + " fanout " +
                                std::to_string(fanout) + " ranks " + std::to_string(ranks) + " threads " +
                                std::to_string(threads) + (shares ? " sharing memory" : "") + " rank " +
                                std::to_string(r));
              }
            }
          }
        }
      }
    }
  }
}

TEST(DistributedKMeans, EmptyClusterSplitsAndAutoHierarchicalMatch) {
  // Few distinct values: random inits pick duplicates, so clusters go empty.
  const size_t n = 5000, d = 4;
  std::vector<float> dup(n * d);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) dup[i * d + j] = (i % 10 == 0) ? 5.0f + 0.001f * float(i % 7) : 1.0f;
  KMeansParams params;
  params.num_clusters = 16;
  params.init = KMeansInit::kRandom;
  params.seed = 1;
  // and k above the auto threshold: two-level with 17 groups split by work
  const auto big = clustered(300 * 20, 8, 9);
  KMeansParams auto_params;
  auto_params.num_clusters = 300;
  auto_params.max_iters = 6;
  struct Case {
    const std::vector<float>* x;
    size_t rows, dim;
    KMeansParams params;
  };
  for (const Case& c : {Case{&dup, n, d, params}, Case{&big, 300 * 20, 8, auto_params}}) {
    const MatrixView<const float> view(c.x->data(), c.rows, c.dim);
    core::InlineExecutor one;
    auto ref = train_kmeans(view, c.params, one);
    ASSERT_TRUE(ref.ok());
    for (int ranks : {2, 3}) {
      for (bool shares : {false, true}) {
        auto got = on_ranks<KMeansModel>(
            ranks, 2, [&](core::Collective& col, core::Executor& ex) { return train_kmeans(view, c.params, ex, &col); },
            shares);
        for (int r = 0; r < ranks; ++r) {
          ASSERT_TRUE(got[r]);
          expect_same(*got[r], **ref,
                      "k=" + std::to_string(c.params.num_clusters) + " ranks " + std::to_string(ranks) +
                          (shares ? " sharing memory" : ""));
        }
      }
    }
  }
}

TEST(DistributedKMeans, EveryRankRefusesANonFiniteValueInAnyRanksRows) {
  // The sample's check is split over the ranks: a NaN in the last rank's rows fails every rank.
  const size_t n = 3000, d = 8;
  auto x = clustered(n, d, 2);
  x[(n - 1) * d + 3] = std::nanf("");
  KMeansParams params;
  params.num_clusters = 10;
  for (int ranks : {2, 3}) {
    std::vector<Status> got(static_cast<size_t>(ranks));
    testing::run_ranks(ranks, [&](core::Collective& c) {
      core::InlineExecutor one;
      got[static_cast<size_t>(c.rank())] =
          train_kmeans(MatrixView<const float>(x.data(), n, d), params, one, &c).status();
    });
    for (const Status& st : got) EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << ranks << " ranks";
  }
}

TEST(DistributedPq, EveryRankRefusesANonFiniteValueInAnyRanksRows) {
  // PQ's check is split over the ranks too: a value in the first or the last rank's rows fails every rank.
  const size_t n = 3000, d = 16;
  for (size_t row : {size_t{0}, n - 1}) {
    auto x = clustered(n, d, 6);
    x[row * d + 5] = std::numeric_limits<float>::infinity();
    PqParams params;
    params.num_sub_vectors = 4;
    params.num_bits = 4;
    for (int ranks : {1, 2, 3}) {
      std::vector<Status> got(static_cast<size_t>(ranks));
      testing::run_ranks(ranks, [&](core::Collective& c) {
        core::InlineExecutor one;
        got[static_cast<size_t>(c.rank())] =
            train_pq(MatrixView<const float>(x.data(), n, d), params, one, &c).status();
      });
      for (const Status& st : got) EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << ranks << " ranks, row " << row;
    }
  }
}

TEST(DistributedPq, BitIdenticalToOneProcessForAnyRanksAndThreads) {
  const size_t n = 3000, d = 32;
  const auto x = clustered(n, d, 4);
  const MatrixView<const float> view(x.data(), n, d);
  for (int nbits : {8, 4}) {
    PqParams params;
    params.num_sub_vectors = 8;
    params.num_bits = nbits;
    params.max_iters = 15;
    params.seed = 3;
    core::InlineExecutor one;
    auto ref = train_pq(view, params, one);
    ASSERT_TRUE(ref.ok());
    // Ranks that share memory take sub-quantizers from a shared counter, the others a fixed run.
    for (bool shares_memory : {false, true}) {
      for (int ranks : {1, 2, 3}) {
        for (int threads : {1, 2}) {
          auto got = on_ranks<PqModel>(
              ranks, threads, [&](core::Collective& c, core::Executor& ex) { return train_pq(view, params, ex, &c); },
              shares_memory);
          for (int r = 0; r < ranks; ++r) {
            ASSERT_TRUE(got[r]);
            const std::string what = "nbits " + std::to_string(nbits) + " ranks " + std::to_string(ranks) +
                                     " threads " + std::to_string(threads) + " shared " +
                                     std::to_string(shares_memory) + " rank " + std::to_string(r);
            EXPECT_EQ(got[r]->codebook, (*ref)->codebook) << what;
            EXPECT_EQ(got[r]->loss, (*ref)->loss) << what;
            EXPECT_EQ(got[r]->searched_fraction, (*ref)->searched_fraction) << what;
          }
        }
      }
    }
  }
}

// Ranks that share one sample in memory (an MPI job on one host: lancer/shared_memory.h)
// each write the PQ residuals of their own rows into it; the codebook and the residuals
// left in the sample are one process's, bit for bit.
TEST(DistributedPq, SharedSampleGivesOneProcesssCodecAndResiduals) {
  const size_t n = 3000, d = 32;
  const auto x = clustered(n, d, 5);
  core::InlineExecutor one;
  KMeansParams kp;
  kp.num_clusters = 12;
  kp.max_iters = 5;
  auto kmeans = train_kmeans(MatrixView<const float>(x.data(), n, d), kp, one);
  ASSERT_TRUE(kmeans.ok());
  CodecTrainParams cp;
  cp.kind = quant::QuantizerKind::kPq;
  cp.num_sub_vectors = 8;
  cp.max_iters = 10;
  cp.seed = 7;
  std::vector<float> ref_rows = x;
  auto ref = train_codec(cp, MatrixView<float>(ref_rows.data(), n, d), n, **kmeans, one, nullptr);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  const auto ref_floats = (*ref)->model_floats();
  ASSERT_FALSE(ref_floats.empty());
  ASSERT_NE(ref_rows, x);  // the residuals replaced the rows
  cp.shared_sample = true;
  for (int ranks : {2, 3}) {
    for (int threads : {1, 2}) {
      std::vector<float> shared = x;  // one sample for every rank
      auto got = on_ranks<quant::Codec>(ranks, threads, [&](core::Collective& c, core::Executor& ex) {
        return train_codec(cp, MatrixView<float>(shared.data(), n, d), n, **kmeans, ex, &c);
      });
      const std::string what = std::to_string(ranks) + " ranks, " + std::to_string(threads) + " threads";
      EXPECT_EQ(shared, ref_rows) << what;
      for (int r = 0; r < ranks; ++r) {
        ASSERT_TRUE(got[r]) << what;
        const auto f = got[r]->model_floats();
        EXPECT_TRUE(std::equal(f.begin(), f.end(), ref_floats.begin(), ref_floats.end())) << what << " rank " << r;
      }
    }
  }
}

// The centroid sums behind the split: fixed-point, the same bits at every SIMD
// level, and exact (so the order rows are added in cannot matter).
TEST(FixedPointSums, EveryLevelMatchesExactRounding) {
  std::mt19937 gen(2);
  std::normal_distribution<float> g;
  const double scale = std::ldexp(1.0, 40);
  for (size_t d : {1, 3, 8, 13, 16, 24, 128, 131}) {
    const size_t n = 37, k = 5;
    std::vector<float> x(n * (d + 2));
    for (auto& v : x) v = 100.0f * g(gen);
    x[0] = 0.5f / static_cast<float>(scale);  // a tie: rounds to even (0)
    x[d + 2] = -1.5f / static_cast<float>(scale);  // and to -2
    std::vector<uint32_t> dest(n);
    for (size_t i = 0; i < n; ++i) dest[i] = static_cast<uint32_t>((i * 3) % k);
    std::vector<int64_t> ref(k * d, 7);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < d; ++j)
        ref[dest[i] * d + j] += static_cast<int64_t>(std::nearbyint(double(x[i * (d + 2) + j]) * scale));
    for (simd::SimdLevel level : {simd::SimdLevel::kScalar, simd::SimdLevel::kAvx2, simd::SimdLevel::kAvx512}) {
      std::vector<int64_t> acc(k * d, 7);
      simd::kernels_for(level).add_rows_fixed(x.data(), d + 2, d, n, dest.data(), scale, acc.data());
      EXPECT_EQ(acc, ref) << simd::simd_level_name(level) << " d=" << d;
      std::vector<int64_t> reversed(k * d, 7);  // the other order, one row at a time
      for (size_t i = n; i-- > 0;)
        simd::kernels_for(level).add_rows_fixed(x.data() + i * (d + 2), d + 2, d, 1, dest.data() + i, scale,
                                                reversed.data());
      EXPECT_EQ(reversed, ref) << simd::simd_level_name(level) << " d=" << d;
      // Lloyd moves a row out of its old cluster with the negated scale: exactly minus its terms,
      // ties included (they round to even either way).
      std::vector<int64_t> moved(k * d, 7);
      simd::kernels_for(level).add_rows_fixed(x.data(), d + 2, d, n, dest.data(), scale, moved.data());
      simd::kernels_for(level).add_rows_fixed(x.data(), d + 2, d, n, dest.data(), -scale, moved.data());
      EXPECT_EQ(moved, std::vector<int64_t>(k * d, 7)) << simd::simd_level_name(level) << " d=" << d;
    }
  }
}

}  // namespace
}  // namespace lancer::train
