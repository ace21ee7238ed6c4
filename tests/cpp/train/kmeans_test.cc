#include "train/kmeans.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/executor.h"
#include "train/kmeans_init.h"
#include "train/kmeans_lloyd.h"
#include "train/random.h"

namespace lancer::train {
namespace {

// n points around `centres` well-separated planted centres in d dims.
struct Planted {
  std::vector<float> centres, points;
  std::vector<uint32_t> truth;
};
Planted planted(size_t centres, size_t per, size_t d, uint32_t seed, float spread = 0.05f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g;
  Planted p;
  p.centres.resize(centres * d);
  for (auto& v : p.centres) v = 10.0f * g(gen);
  for (size_t i = 0; i < centres * per; ++i) {
    const size_t c = i % centres;
    p.truth.push_back(static_cast<uint32_t>(c));
    for (size_t j = 0; j < d; ++j) p.points.push_back(p.centres[c * d + j] + spread * g(gen));
  }
  return p;
}

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n);
  for (auto& x : v) x = g(gen);
  return v;
}

double nearest_sq(const float* x, const std::vector<float>& c, size_t d) {
  double best = 1e300;
  for (size_t k = 0; k < c.size() / d; ++k) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += (double(x[j]) - c[k * d + j]) * (double(x[j]) - c[k * d + j]);
    best = std::min(best, s);
  }
  return best;
}

TEST(KMeans, FindsPlantedCentres) {
  const size_t k = 12, d = 16;
  Planted p = planted(k, 200, d, 1);
  core::ThreadPool pool(2);
  KMeansParams params;
  params.num_clusters = static_cast<int>(k);
  params.seed = 3;
  params.init = KMeansInit::kKMeansPlusPlus;
  auto model = train_kmeans({p.points.data(), p.truth.size(), d}, params, pool);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  // every planted centre has a trained centroid within the noise
  for (size_t c = 0; c < k; ++c) EXPECT_LT(nearest_sq(&p.centres[c * d], (*model)->centroids, d), 0.01);
  EXPECT_GT((*model)->iterations, 0);
  EXPECT_LT((*model)->loss, p.truth.size() * d * 0.05 * 0.05 * 1.5);
  // and assignment reproduces the planted partition up to relabelling
  std::vector<uint32_t> labels(p.truth.size());
  ASSERT_TRUE(assign_partitions(**model, {p.points.data(), p.truth.size(), d}, labels, {}, pool).ok());
  std::vector<int> map(k, -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (map[p.truth[i]] < 0) map[p.truth[i]] = static_cast<int>(labels[i]);
    EXPECT_EQ(map[p.truth[i]], static_cast<int>(labels[i]));
  }
}

TEST(KMeans, RandomInitConvergesAndLossMatchesAssignment) {
  const size_t n = 4000, d = 8;
  auto x = gaussian(n * d, 5);
  core::ThreadPool pool(2);
  KMeansParams params;
  params.num_clusters = 32;
  params.tolerance = 0;
  params.max_iters = 100;
  params.init = KMeansInit::kRandom;
  auto model = train_kmeans({x.data(), n, d}, params, pool);
  ASSERT_TRUE(model.ok());
  EXPECT_LE((*model)->iterations, 100);
  // the reported loss is that of the last assignment; the final centroids are at least as good
  double final_loss = 0;
  for (size_t i = 0; i < n; ++i) final_loss += nearest_sq(&x[i * d], (*model)->centroids, d);
  EXPECT_LE(final_loss, (*model)->loss * (1 + 1e-5));
  EXPECT_GT(final_loss, (*model)->loss * 0.9);
}

TEST(KMeans, ToleranceStopsEarly) {
  const size_t n = 4000, d = 8;
  auto x = gaussian(n * d, 6);
  core::InlineExecutor ex;
  KMeansParams params;
  params.num_clusters = 16;
  params.tolerance = 1e-2;
  auto model = train_kmeans({x.data(), n, d}, params, ex);
  ASSERT_TRUE(model.ok());
  EXPECT_LT((*model)->iterations, 50);
}

TEST(KMeans, BitIdenticalForAnyThreadCount) {
  const size_t n = 5000, d = 24;
  auto x = gaussian(n * d, 7);
  for (auto metric : {Metric::kL2, Metric::kCosine, Metric::kDot}) {
    for (int fanout : {0, 4, 5}) {
      for (auto init : {KMeansInit::kRandom, KMeansInit::kKMeansPlusPlus}) {
        KMeansParams params;
        params.num_clusters = 40;
        params.max_iters = 8;
        params.seed = 11;
        params.metric = metric;
        params.hierarchical_fanout = fanout;
        params.top_rows_per_group = fanout == 5 ? 300 : 2048;  // 5: the top level on a subset
        params.init = init;
        core::InlineExecutor one;
        auto ref = train_kmeans({x.data(), n, d}, params, one);
        ASSERT_TRUE(ref.ok()) << ref.status().to_string();
        for (int threads : {2, 3, 4}) {
          core::ThreadPool pool(threads);
          auto got = train_kmeans({x.data(), n, d}, params, pool);
          ASSERT_TRUE(got.ok());
          EXPECT_EQ((*got)->centroids, (*ref)->centroids) << simd::metric_name(metric) << " fanout " << fanout;
          EXPECT_EQ((*got)->loss, (*ref)->loss);
        }
        params.seed = 12;  // and a different seed gives different centroids
        auto other = train_kmeans({x.data(), n, d}, params, one);
        EXPECT_NE((*other)->centroids, (*ref)->centroids);
      }
    }
  }
}

// The sample's scan (its largest magnitude sets the sums' fixed point) refuses NaN and infinities
// wherever they are, of either sign.
TEST(KMeans, NonFiniteSampleIsRefused) {
  const size_t n = 300, d = 7;
  core::ThreadPool pool(2);
  KMeansParams params;
  params.num_clusters = 4;
  params.max_iters = 3;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
    for (size_t at : {size_t{0}, n * d / 2 + 3, n * d - 1}) {
      auto x = gaussian(n * d, 5);
      x[at] = bad;
      EXPECT_FALSE(train_kmeans({x.data(), n, d}, params, pool).ok()) << bad << " at " << at;
    }
  }
  auto x = gaussian(n * d, 5);
  x[3] = std::numeric_limits<float>::max();  // the largest finite value is fine
  x[4] = -std::numeric_limits<float>::denorm_min();
  EXPECT_TRUE(train_kmeans({x.data(), n, d}, params, pool).ok());
}

// Lloyd keeps its fixed-point sums from one assignment to the next and moves only the rows that
// changed cluster: the centroids equal those of single iterations chained, each of which sums every
// row afresh, bit for bit (empty clusters split on the way, one and two threads, bfloat16 proposals
// at d = 64).
TEST(KMeans, LloydMovingChangedRowsEqualsSummingEveryRow) {
  for (size_t d : {24, 64}) {
    const size_t n = 3000, k = 40;
    const int iters = 12;
    auto x = gaussian(n * d, 21);
    float max_abs = 0;
    for (float v : x) max_abs = std::max(max_abs, std::abs(v));
    const LloydParams lp{Metric::kL2, iters, 0.0, fixed_point_for(max_abs, n)};
    std::vector<float> init(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(k * d));
    for (size_t c = 0; c < 4; ++c) std::copy_n(x.data() + c * d, d, init.data() + (k - 1 - c) * d);  // to split
    for (int threads : {1, 2}) {
      core::ThreadPool pool(threads);
      std::vector<float> many = init, chained = init;
      auto res = lloyd({x.data(), n, d}, k, many, lp, pool, nullptr, nullptr);
      ASSERT_TRUE(res.ok());
      ASSERT_EQ(res->iterations, iters);  // no fixed point before the last iteration
      LloydParams one = lp;
      one.max_iters = 1;
      for (int it = 0; it < iters; ++it)
        ASSERT_TRUE(lloyd({x.data(), n, d}, k, chained, one, pool, nullptr, nullptr).ok());
      EXPECT_EQ(many, chained) << "d=" << d << " threads=" << threads;
    }
  }
}

// k-means++ on more rows than 32 per centroid draws a subset and reads its rows in place: the
// same centroids as k-means++ on a copy of that subset (which it no longer makes).
TEST(KMeans, PlusPlusOnASubsetEqualsPlusPlusOnItsCopy) {
  const size_t n = 6000, d = 40, k = 12;  // 384 rows drawn
  auto x = gaussian(n * d, 9);
  KMeansParams params;
  params.num_clusters = static_cast<int>(k);
  params.seed = 5;
  params.init = KMeansInit::kKMeansPlusPlus;
  const auto subset = random_subset({x.data(), n, d}, 32 * k, derive_seed(params.seed, 0x5EED));
  core::InlineExecutor one;
  const auto copied = initial_centroids({subset.data(), 32 * k, d}, k, params, one);
  for (int threads : {1, 3}) {
    core::ThreadPool pool(threads);
    EXPECT_EQ(initial_centroids({x.data(), n, d}, k, params, pool), copied) << threads << " threads";
  }
  params.seed = 6;
  EXPECT_NE(initial_centroids({x.data(), n, d}, k, params, one), copied);
}

TEST(KMeans, CosineTrainsOnNormalisedVectors) {
  const size_t n = 2000, d = 12;
  auto x = gaussian(n * d, 8);
  auto xn = x;
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += double(x[i * d + j]) * x[i * d + j];
    for (size_t j = 0; j < d; ++j) xn[i * d + j] = static_cast<float>(x[i * d + j] / std::sqrt(s));
  }
  core::InlineExecutor ex;
  KMeansParams params;
  params.num_clusters = 10;
  params.metric = Metric::kCosine;
  auto a = train_kmeans({x.data(), n, d}, params, ex);
  params.metric = Metric::kL2;
  auto b = train_kmeans({xn.data(), n, d}, params, ex);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)->centroids.size(), (*b)->centroids.size());
  for (size_t i = 0; i < (*a)->centroids.size(); ++i) EXPECT_NEAR((*a)->centroids[i], (*b)->centroids[i], 1e-5);
}

TEST(KMeans, DotCentroidsAreUnitAndAssignmentMaximisesInnerProduct) {
  const size_t n = 3000, d = 10;
  auto x = gaussian(n * d, 9);
  core::ThreadPool pool(2);
  KMeansParams params;
  params.num_clusters = 16;
  params.metric = Metric::kDot;
  auto model = train_kmeans({x.data(), n, d}, params, pool);
  ASSERT_TRUE(model.ok());
  const auto& c = (*model)->centroids;
  for (size_t k = 0; k < 16; ++k) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += double(c[k * d + j]) * c[k * d + j];
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
  std::vector<uint32_t> labels(n);
  std::vector<float> dist(n);
  ASSERT_TRUE(assign_partitions(**model, {x.data(), n, d}, labels, dist, pool).ok());
  for (size_t i = 0; i < n; ++i) {
    double best = -1e300;
    for (size_t k = 0; k < 16; ++k) {
      double ip = 0;
      for (size_t j = 0; j < d; ++j) ip += double(x[i * d + j]) * c[k * d + j];
      best = std::max(best, ip);
    }
    double got = 0;
    for (size_t j = 0; j < d; ++j) got += double(x[i * d + j]) * c[labels[i] * d + j];
    EXPECT_GE(got, best - 1e-4);
    EXPECT_NEAR(dist[i], 1.0 - got, 1e-4);
  }
}

TEST(KMeans, EmptyClustersAreSplitFromTheLargest) {
  // 2 distinct values repeated: most random inits pick duplicates.
  const size_t n = 1000, d = 4;
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j)
      x[i * d + j] = (i % 10 == 0) ? 5.0f + 0.001f * float(i % 7) : 1.0f + 0.001f * float(i % 13);
  core::InlineExecutor ex;
  KMeansParams params;
  params.num_clusters = 8;
  params.seed = 1;
  auto model = train_kmeans({x.data(), n, d}, params, ex);
  ASSERT_TRUE(model.ok());
  std::vector<uint32_t> labels(n);
  ASSERT_TRUE(assign_partitions(**model, {x.data(), n, d}, labels, {}, ex).ok());
  std::vector<int> used(8, 0);
  for (auto l : labels) used[l] = 1;
  int total = 0;
  for (int u : used) total += u;
  EXPECT_GE(total, 4);  // splitting keeps clusters alive instead of leaving them empty
}

TEST(KMeans, AutoIsHierarchicalAboveTheThreshold) {
  const size_t n = 300 * 20, d = 4;
  auto x = gaussian(n * d, 12);
  core::ThreadPool pool(2);
  KMeansParams params;
  params.num_clusters = 300;  // > 256: two-level with round(sqrt(300)) = 17 groups
  params.max_iters = 5;
  auto a = train_kmeans({x.data(), n, d}, params, pool);
  params.hierarchical_fanout = 17;
  auto b = train_kmeans({x.data(), n, d}, params, pool);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->centroids, (*b)->centroids);
  EXPECT_EQ((*a)->centroids.size(), 300 * d);
  params.hierarchical_fanout = -2;
  EXPECT_EQ(train_kmeans({x.data(), n, d}, params, pool).status().code(), StatusCode::kInvalidArgument);
  params.hierarchical_fanout = 17;
  params.top_rows_per_group = 0;
  EXPECT_EQ(train_kmeans({x.data(), n, d}, params, pool).status().code(), StatusCode::kInvalidArgument);
}

TEST(KMeans, UserCentroidsAndErrors) {
  core::InlineExecutor ex;
  auto m = kmeans_from_centroids({0, 0, 1, 1, 2, 2}, 2, Metric::kL2);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->k, 3);
  EXPECT_EQ((*m)->iterations, 0);
  std::vector<float> x = {0.1f, 0.1f, 1.9f, 2.2f};
  std::vector<uint32_t> labels(2);
  ASSERT_TRUE(assign_partitions(**m, {x.data(), 2, 2}, labels, {}, ex).ok());
  EXPECT_EQ(labels, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(assign_partitions(**m, {x.data(), 1, 4}, labels, {}, ex).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kmeans_from_centroids({0, 0, 1}, 2, Metric::kL2).status().code(), StatusCode::kInvalidArgument);

  KMeansParams params;
  params.num_clusters = 5;
  auto r = train_kmeans({x.data(), 2, 2}, params, ex);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("cannot train 5 centroids on 2 vectors"), std::string::npos);
  params.num_clusters = 1;
  x[1] = std::nanf("");
  EXPECT_EQ(train_kmeans({x.data(), 2, 2}, params, ex).status().code(), StatusCode::kInvalidArgument);
  params.num_clusters = 0;
  EXPECT_EQ(train_kmeans({x.data(), 2, 2}, params, ex).status().code(), StatusCode::kInvalidArgument);
}

TEST(KMeans, HierarchicalProducesKCentroidsCloseToFlat) {
  const size_t d = 8;
  Planted p = planted(64, 60, d, 21, 0.5f);
  const size_t n = p.truth.size();
  core::ThreadPool pool(2);
  KMeansParams params;
  params.num_clusters = 64;
  params.seed = 2;
  params.hierarchical_fanout = 0;
  auto flat = train_kmeans({p.points.data(), n, d}, params, pool);
  params.hierarchical_fanout = 8;
  auto hier = train_kmeans({p.points.data(), n, d}, params, pool);
  ASSERT_TRUE(flat.ok() && hier.ok());
  EXPECT_EQ((*hier)->centroids.size(), 64 * d);
  auto objective = [&](const std::vector<float>& c) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += nearest_sq(&p.points[i * d], c, d);
    return s;
  };
  EXPECT_LT(objective((*hier)->centroids), objective((*flat)->centroids) * 1.5);
}

}  // namespace
}  // namespace lancer::train

namespace lancer::train {
namespace {

TEST(KMeans, Residuals) {
  auto m = kmeans_from_centroids({1, 2, 10, 20}, 2, Metric::kL2);
  ASSERT_TRUE(m.ok());
  std::vector<float> x = {1.5f, 2.5f, 9, 21}, out(4);
  std::vector<uint32_t> labels = {0, 1};
  core::InlineExecutor ex;
  ASSERT_TRUE(compute_residuals(**m, {x.data(), 2, 2}, labels, {out.data(), 2, 2}, ex).ok());
  EXPECT_EQ(out, (std::vector<float>{0.5f, 0.5f, -1, 1}));
  labels[1] = 2;
  EXPECT_EQ(compute_residuals(**m, {x.data(), 2, 2}, labels, {out.data(), 2, 2}, ex).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lancer::train
