#include "linalg/nearest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/executor.h"
#include "linalg/blas.h"
#include "linalg/gaussian.h"
#include "linalg/norms.h"
#include "simd/bf16_scores.h"
#include "simd/kernels.h"

namespace lancer::linalg {
namespace {

TEST(Blas, SgemmMatchesLoops) {
  const size_t m = 37, n = 29, k = 19;
  auto a = gaussian(m * k, 1), b = gaussian(n * k, 2), bt(b);
  std::vector<float> c(m * n), c2(m * n);
  sgemm_nt(m, n, k, 2.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  // b as k x n for the NN form
  std::vector<float> bkn(k * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < k; ++j) bkn[j * n + i] = b[i * k + j];
  sgemm_nn(m, n, k, 2.0f, a.data(), k, bkn.data(), n, 0.0f, c2.data(), n);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = 0;
      for (size_t t = 0; t < k; ++t) s += double(a[i * k + t]) * b[j * k + t];
      EXPECT_NEAR(c[i * n + j], 2 * s, 1e-4);
      EXPECT_NEAR(c2[i * n + j], 2 * s, 1e-4);
    }
  EXPECT_FALSE(blas_config().empty());
}

struct Case {
  size_t n, k, d;
};

TEST(Nearest, MatchesBruteForceForEveryMetric) {
  core::ThreadPool pool(3);
  for (Case c : {Case{1, 1, 3}, Case{300, 7, 16}, Case{700, 1500, 24}, Case{257, 33, 128}}) {
    auto x = gaussian(c.n * c.d, 10), cent = gaussian(c.k * c.d, 11);
    for (auto metric : {simd::Metric::kL2, simd::Metric::kDot}) {
      std::vector<uint32_t> labels(c.n);
      std::vector<float> dist(c.n);
      ASSERT_TRUE(nearest_centroids({x.data(), c.n, c.d}, {cent.data(), c.k, c.d}, metric, labels, dist, pool).ok());
      for (size_t i = 0; i < c.n; ++i) {
        double best = 1e300, second = 1e300;
        for (size_t j = 0; j < c.k; ++j) {
          double l2 = 0, ip = 0;
          for (size_t t = 0; t < c.d; ++t) {
            const double a = x[i * c.d + t], b = cent[j * c.d + t];
            l2 += (a - b) * (a - b);
            ip += a * b;
          }
          const double s = metric == simd::Metric::kL2 ? l2 : 1.0 - ip;
          if (s < best)
            second = best, best = s;
          else if (s < second)
            second = s;
        }
        // the chosen centroid is optimal up to rounding
        double l2 = 0, ip = 0;
        for (size_t t = 0; t < c.d; ++t) {
          const double a = x[i * c.d + t], b = cent[labels[i] * c.d + t];
          l2 += (a - b) * (a - b);
          ip += a * b;
        }
        const double got = metric == simd::Metric::kL2 ? l2 : 1.0 - ip;
        EXPECT_LE(got, best + 1e-4 * (1 + std::abs(best)));
        EXPECT_NEAR(dist[i], got, 1e-3 * (1 + std::abs(got)));
      }
    }
  }
}

TEST(Nearest, TiesGoToTheLowestIndex) {
  // Identical centroids: the first one must win.
  std::vector<float> cent = {1, 0, 5, 5, 1, 0, 5, 5};  // 4 centroids of d=2: dupes (0,2) and (1,3)
  std::vector<float> x = {1, 0, 5, 5, 0.9f, 0.1f};
  std::vector<uint32_t> labels(3);
  core::InlineExecutor ex;
  ASSERT_TRUE(nearest_centroids({x.data(), 3, 2}, {cent.data(), 4, 2}, simd::Metric::kL2, labels, {}, ex).ok());
  EXPECT_EQ(labels, (std::vector<uint32_t>{0, 1, 0}));
}

TEST(Nearest, DotPicksLargestInnerProductNotNearest) {
  // x = (1, 0); c0 = (0.9, 0) is nearest in l2, c1 = (5, 0) has the larger inner product.
  std::vector<float> cent = {0.9f, 0, 5, 0}, x = {1, 0};
  std::vector<uint32_t> l2(1), dot(1);
  std::vector<float> dd(1);
  core::InlineExecutor ex;
  ASSERT_TRUE(nearest_centroids({x.data(), 1, 2}, {cent.data(), 2, 2}, simd::Metric::kL2, l2, {}, ex).ok());
  ASSERT_TRUE(nearest_centroids({x.data(), 1, 2}, {cent.data(), 2, 2}, simd::Metric::kDot, dot, dd, ex).ok());
  EXPECT_EQ(l2[0], 0u);
  EXPECT_EQ(dot[0], 1u);
  EXPECT_FLOAT_EQ(dd[0], 1.0f - 5.0f);
}

TEST(Nearest, IdenticalForAnyThreadCount) {
  const size_t n = 3000, k = 1100, d = 40;
  auto x = gaussian(n * d, 3), cent = gaussian(k * d, 4);
  std::vector<uint32_t> ref(n);
  std::vector<float> ref_d(n);
  core::InlineExecutor inline_ex;
  ASSERT_TRUE(nearest_centroids({x.data(), n, d}, {cent.data(), k, d}, simd::Metric::kL2, ref, ref_d, inline_ex).ok());
  for (int threads : {2, 3, 5}) {
    core::ThreadPool pool(threads);
    std::vector<uint32_t> got(n);
    std::vector<float> got_d(n);
    ASSERT_TRUE(nearest_centroids({x.data(), n, d}, {cent.data(), k, d}, simd::Metric::kL2, got, got_d, pool).ok());
    EXPECT_EQ(got, ref);
    EXPECT_EQ(got_d, ref_d);
  }
}

// The options k-means uses: a per-block callback that sees
// every row once with its final label, and scratch buffers reused across calls.
TEST(Nearest, BlockCallbackAndScratch) {
  const size_t n = 2500, k = 300, d = 16;
  auto x = gaussian(n * d, 5), cent = gaussian(k * d, 6);
  std::vector<uint32_t> ref(n);
  std::vector<float> ref_d(n);
  core::InlineExecutor inline_ex;
  ASSERT_TRUE(nearest_centroids({x.data(), n, d}, {cent.data(), k, d}, simd::Metric::kL2, ref, ref_d, inline_ex).ok());
  core::ThreadPool pool(3);
  NearestScratch scratch;
  for (int call = 0; call < 2; ++call) {
    std::vector<uint32_t> got(n);
    std::vector<float> got_d(n);
    std::vector<int> seen(n, 0);
    std::mutex mu;
    bool labels_final = true;
    NearestOptions options;
    options.scratch = &scratch;
    options.on_block = [&](size_t begin, size_t end) {
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_EQ(begin % nearest_row_block(k), 0u);
      for (size_t i = begin; i < end; ++i) {
        ++seen[i];
        labels_final &= got[i] == ref[i];
      }
    };
    ASSERT_TRUE(
        nearest_centroids({x.data(), n, d}, {cent.data(), k, d}, simd::Metric::kL2, got, got_d, pool, options).ok());
    EXPECT_EQ(got, ref);
    EXPECT_EQ(seen, std::vector<int>(n, 1));
    EXPECT_TRUE(labels_final);
    EXPECT_EQ(got_d, ref_d);
  }
}

// Centroids prepared once and reused batch after batch (phase 2's use) give
// the bits of a fresh call per batch, with and without the bfloat16 proposal;
// a mismatched dimension is refused.
TEST(Nearest, PreparedCentroidsGiveTheBitsOfFreshCalls) {
  core::ThreadPool pool(2);
  const size_t n = 700, k = 70, d = 96, batch = 256;
  auto x = gaussian(n * d, 31), cent = gaussian(k * d, 32);
  for (auto metric : {simd::Metric::kL2, simd::Metric::kDot}) {
    for (bool bf16 : {false, true}) {
      const PreparedCentroids prepared({cent.data(), k, d}, metric, std::nullopt, bf16);
      EXPECT_EQ(prepared.proposal() != nullptr, bf16 && simd::bf16_scores_available());
      NearestOptions options;
      options.bf16 = bf16;
      for (size_t r0 = 0; r0 < n; r0 += batch) {
        const size_t m = std::min(batch, n - r0);
        std::vector<uint32_t> ref(m), got(m);
        std::vector<float> ref_d(m), got_d(m);
        ASSERT_TRUE(
            nearest_centroids({x.data() + r0 * d, m, d}, {cent.data(), k, d}, metric, ref, ref_d, pool, options).ok());
        ASSERT_TRUE(nearest_centroids({x.data() + r0 * d, m, d}, prepared, got, got_d, pool).ok());
        EXPECT_EQ(got, ref);
        ASSERT_EQ(std::memcmp(got_d.data(), ref_d.data(), m * sizeof(float)), 0);
      }
      std::vector<uint32_t> labels(1);
      EXPECT_EQ(nearest_centroids({x.data(), 1, d - 1}, prepared, labels, {}, pool).code(),
                StatusCode::kInvalidArgument);
    }
  }
}

// Row norms computed once (k-means' repeated assignments) give the distances
// of a call that computes them itself, with and without the bfloat16 proposal.
TEST(Nearest, GivenRowNormsGiveTheSameDistances) {
  core::ThreadPool pool(2);
  const size_t n = 300, k = 40, d = 130;
  auto x = gaussian(n * d, 41), cent = gaussian(k * d, 42);
  std::vector<float> norms(n);
  nearest_row_norms({x.data(), n, d}, norms, pool);
  for (bool bf16 : {false, true}) {
    NearestOptions options;
    options.bf16 = bf16;
    std::vector<uint32_t> ref(n), got(n);
    std::vector<float> ref_d(n), got_d(n);
    ASSERT_TRUE(
        nearest_centroids({x.data(), n, d}, {cent.data(), k, d}, simd::Metric::kL2, ref, ref_d, pool, options).ok());
    options.row_norms = norms.data();
    ASSERT_TRUE(
        nearest_centroids({x.data(), n, d}, {cent.data(), k, d}, simd::Metric::kL2, got, got_d, pool, options).ok());
    EXPECT_EQ(got, ref);
    ASSERT_EQ(std::memcmp(got_d.data(), ref_d.data(), n * sizeof(float)), 0);
  }
}

// The same labels and distances, bit for bit, from every SIMD level, for
// shapes that exercise the kernel's codeword groups and partial 16-row blocks.
TEST(Nearest, EveryLevelGivesTheSameBits) {
  core::ThreadPool pool(2);
  for (Case c : {Case{1, 1, 3}, Case{37, 5, 7}, Case{300, 13, 16}, Case{1000, 257, 33}, Case{130, 64, 200}}) {
    auto x = gaussian(c.n * c.d, 21), cent = gaussian(c.k * c.d, 22);
    for (auto metric : {simd::Metric::kL2, simd::Metric::kDot}) {
      std::vector<uint32_t> ref(c.n);
      std::vector<float> ref_d(c.n);
      NearestOptions scalar;
      scalar.level = simd::SimdLevel::kScalar;
      ASSERT_TRUE(
          nearest_centroids({x.data(), c.n, c.d}, {cent.data(), c.k, c.d}, metric, ref, ref_d, pool, scalar).ok());
      for (auto level : {simd::SimdLevel::kAvx2, simd::SimdLevel::kAvx512}) {
        std::vector<uint32_t> got(c.n);
        std::vector<float> got_d(c.n);
        NearestOptions options;
        options.level = level;
        ASSERT_TRUE(
            nearest_centroids({x.data(), c.n, c.d}, {cent.data(), c.k, c.d}, metric, got, got_d, pool, options).ok());
        SCOPED_TRACE(std::string(simd::simd_level_name(simd::kernels_for(level).level)) + " n=" + std::to_string(c.n) +
                     " k=" + std::to_string(c.k) + " d=" + std::to_string(c.d));
        EXPECT_EQ(got, ref);
        ASSERT_EQ(std::memcmp(got_d.data(), ref_d.data(), c.n * sizeof(float)), 0);
      }
    }
  }
}

// Rows packed once (k-means' iterations) give the bits of rows packed per call,
// including block sizes that are not a multiple of 16 rows (k = 100: 1310 rows)
// and a last block's partial group.
TEST(Nearest, PackedRowsGiveTheSameBits) {
  core::ThreadPool pool(2);
  for (Case c : {Case{1, 1, 3}, Case{300, 21, 128}, Case{3000, 100, 20}, Case{2100, 9, 7}}) {
    auto x = gaussian(c.n * c.d, 31), cent = gaussian(c.k * c.d, 32);
    const MatrixView<const float> xv(x.data(), c.n, c.d);
    for (auto metric : {simd::Metric::kL2, simd::Metric::kDot}) {
      for (auto level : {simd::SimdLevel::kScalar, simd::SimdLevel::kAvx2, simd::SimdLevel::kAvx512}) {
        NearestOptions options;
        options.level = level;
        ASSERT_TRUE(NearestPackedRows::worthwhile(xv, c.k, options));
        std::vector<uint32_t> ref(c.n), got(c.n);
        std::vector<float> ref_d(c.n), got_d(c.n);
        ASSERT_TRUE(nearest_centroids(xv, {cent.data(), c.k, c.d}, metric, ref, ref_d, pool, options).ok());
        const NearestPackedRows packed(xv, c.k, pool);
        options.packed = &packed;
        ASSERT_TRUE(nearest_centroids(xv, {cent.data(), c.k, c.d}, metric, got, got_d, pool, options).ok());
        SCOPED_TRACE("n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " d=" + std::to_string(c.d));
        EXPECT_EQ(got, ref);
        ASSERT_EQ(std::memcmp(got_d.data(), ref_d.data(), c.n * sizeof(float)), 0);
      }
    }
  }
}

TEST(Nearest, PackedRowsOnlyWhereTheExactKernelRunsAndWithinBudget) {
  std::vector<float> x(16 * 128);
  NearestOptions exact;
  exact.bf16 = false;
  EXPECT_TRUE(NearestPackedRows::worthwhile({x.data(), 16, 128}, 447, exact));
  EXPECT_EQ(NearestPackedRows::worthwhile({x.data(), 16, 128}, 447, {}), nearest_exact_only(447, 128, {}));
  // 1M rows of 128 floats: 512 MB, past the budget (only the shape is read).
  EXPECT_FALSE(NearestPackedRows::worthwhile({x.data(), size_t{1} << 20, 128}, 21, exact));
  EXPECT_FALSE(NearestPackedRows::worthwhile({x.data(), 0, 128}, 21, exact));
}

TEST(Nearest, PackedRowsOfAnotherShapeAreRefused) {
  core::InlineExecutor ex;
  auto x = gaussian(40 * 8, 41), cent = gaussian(3 * 8, 42);
  const NearestPackedRows packed({x.data(), 40, 8}, 3, ex);
  NearestOptions options;
  options.packed = &packed;
  std::vector<uint32_t> labels(39);
  EXPECT_EQ(
      nearest_centroids({x.data(), 39, 8}, {cent.data(), 3, 8}, simd::Metric::kL2, labels, {}, ex, options).code(),
      StatusCode::kInvalidArgument);
}

TEST(Nearest, ShapeErrors) {
  std::vector<float> x(8), c(6);
  std::vector<uint32_t> labels(2);
  core::InlineExecutor ex;
  EXPECT_EQ(nearest_centroids({x.data(), 2, 4}, {c.data(), 2, 3}, simd::Metric::kL2, labels, {}, ex).code(),
            StatusCode::kInvalidArgument);
  std::vector<uint32_t> short_labels(1);
  EXPECT_EQ(nearest_centroids({x.data(), 2, 4}, {c.data(), 1, 4}, simd::Metric::kL2, short_labels, {}, ex).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lancer::linalg
