// The bfloat16 proposal must never change a result: labels and scores equal
// the canonical kernel's bit for bit, on data built to have near-ties.
#include "linalg/nearest_bf16.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/executor.h"
#include "linalg/gaussian.h"
#include "linalg/nearest.h"
#include "simd/bf16_scores.h"
#include "simd/codeword.h"

namespace lancer::linalg {
namespace {

struct Data {
  size_t n, k, d;
  std::vector<float> x, c;
};

// Clusters around centres far from the origin (offset), rows near them.
Data clustered(size_t n, size_t k, size_t d, float offset, float spread, uint32_t seed) {
  Data out{n, k, d, gaussian(n * d, seed), gaussian(k * d, seed + 1)};
  for (size_t i = 0; i < k * d; ++i) out.c[i] = offset + out.c[i];
  for (size_t r = 0; r < n; ++r) {
    const size_t home = (r * 7919) % k;
    for (size_t j = 0; j < d; ++j) out.x[r * d + j] = out.c[home * d + j] + spread * out.x[r * d + j];
  }
  return out;
}

// Rows on the bisector of two centroids (exact ties up to rounding), rows equal
// to centroids, duplicated centroids.
Data ties(size_t n, size_t k, size_t d, uint32_t seed) {
  Data out{n, k, d, std::vector<float>(n * d), gaussian(k * d, seed)};
  std::memcpy(out.c.data() + (k - 1) * d, out.c.data(), d * sizeof(float));  // centroid k-1 == centroid 0
  std::mt19937 gen(seed);
  for (size_t r = 0; r < n; ++r) {
    const size_t a = gen() % k, b = gen() % k;
    for (size_t j = 0; j < d; ++j) {
      const float mid = 0.5f * (out.c[a * d + j] + out.c[b * d + j]);
      out.x[r * d + j] = r % 3 == 0 ? out.c[a * d + j] : mid;
    }
  }
  return out;
}

// Clusters whose centroids come in pairs a little apart (as k-means leaves a
// cluster split in two), rows near either and on their bisectors.
Data siblings(size_t n, size_t k, size_t d, uint32_t seed) {
  Data out = clustered(n, k, d, 0.0f, 0.3f, seed);
  const std::vector<float> nudge = gaussian(k * d, seed + 2);
  for (size_t c = 1; c < k; c += 2)
    for (size_t j = 0; j < d; ++j) out.c[c * d + j] = out.c[(c - 1) * d + j] + 0.05f * nudge[c * d + j];
  for (size_t r = 0; r < n; r += 5) {
    const size_t a = (r * 7919) % k & ~size_t{1};
    for (size_t j = 0; j < d; ++j) out.x[r * d + j] = 0.5f * (out.c[a * d + j] + out.c[(a + 1) * d + j]);
  }
  return out;
}

void expect_same_as_canonical(const Data& data, simd::Metric metric, const std::string& what) {
  SCOPED_TRACE(what);
  core::ThreadPool pool(2);
  std::vector<uint32_t> ref(data.n), got(data.n);
  std::vector<float> ref_d(data.n), got_d(data.n);
  NearestOptions canonical, proposed;
  canonical.bf16 = false;
  proposed.bf16 = true;
  ASSERT_TRUE(nearest_centroids({data.x.data(), data.n, data.d}, {data.c.data(), data.k, data.d}, metric, ref, ref_d,
                                pool, canonical)
                  .ok());
  ASSERT_TRUE(nearest_centroids({data.x.data(), data.n, data.d}, {data.c.data(), data.k, data.d}, metric, got, got_d,
                                pool, proposed)
                  .ok());
  EXPECT_EQ(got, ref);
  EXPECT_EQ(std::memcmp(got_d.data(), ref_d.data(), data.n * sizeof(float)), 0);
}

TEST(NearestBf16, SameBitsAsTheCanonicalKernel) {
  if (!simd::bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  for (auto metric : {simd::Metric::kL2, simd::Metric::kDot}) {
    const std::string m = metric == simd::Metric::kL2 ? "l2" : "dot";
    expect_same_as_canonical({300, 64, 64, gaussian(300 * 64, 1), gaussian(64 * 64, 2)}, metric, m + " gaussian 64");
    expect_same_as_canonical({130, 245, 1024, gaussian(130 * 1024, 3), gaussian(245 * 1024, 4)}, metric,
                             m + " gaussian 1024");
    expect_same_as_canonical(clustered(700, 100, 129, 100.0f, 0.3f, 5), metric, m + " far clusters, odd d");
    expect_same_as_canonical(clustered(400, 300, 2048, 1.0f, 0.05f, 7), metric, m + " tight clusters 2048");
    expect_same_as_canonical(ties(500, 48, 96, 9), metric, m + " ties");
    expect_same_as_canonical(ties(200, 33, 1000, 11), metric, m + " ties 1000");
    // Few centroids, most rows scored: the packed pair scores (up to 64 rows and centroids, 16 to a register).
    expect_same_as_canonical(clustered(333, 40, 2048, 1.0f, 0.05f, 13), metric, m + " 40 tight clusters 2048");
    expect_same_as_canonical(clustered(150, 20, 77, 5.0f, 0.3f, 15), metric, m + " 20 clusters, odd d");
    expect_same_as_canonical(ties(100, 61, 64, 17), metric, m + " ties 61");
    // The pivot search (l2, >= 64 centroids, d >= 512): ties, duplicated and near-duplicate
    // centroids (siblings that a pivot cannot exclude), clusters far from the origin.
    expect_same_as_canonical(ties(300, 80, 512, 19), metric, m + " ties 80 x 512");
    expect_same_as_canonical(siblings(500, 96, 1024, 21), metric, m + " siblings 1024");
    expect_same_as_canonical(clustered(300, 70, 768, 100.0f, 0.3f, 23), metric, m + " far clusters 768");
    expect_same_as_canonical(clustered(200, 64, 2048, 0.0f, 2.0f, 25), metric, m + " loose clusters 2048");
  }
}

// The l2 proposal over all of data's rows, with scores asked for.
struct Proposed {
  bool decided = false;
  NearestScratch::Buffers buffers;
  std::vector<uint32_t> labels;
  std::vector<float> best;
};
Proposed propose(const Data& data) {
  std::vector<float> cb(data.k * data.d), cnorm(data.k);
  simd::prepare_codewords(data.c.data(), data.k, data.d, cb.data(), cnorm.data());
  const Bf16Proposal proposal({data.c.data(), data.k, data.d}, true, cb.data(), cnorm.data());
  Proposed out;
  out.labels.resize(data.n);
  out.best.resize(data.n);
  out.decided = proposal.assign(data.x.data(), data.n, out.buffers, out.labels.data(), out.best.data());
  return out;
}

// The proposal itself decides (it does not fall back) on clustered data, and
// agrees with the kernel there.
TEST(NearestBf16, DecidesClusteredRowsItself) {
  if (!simd::bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  const Data data = clustered(64, 200, 512, 3.0f, 0.2f, 13);
  Proposed p = propose(data);
  ASSERT_TRUE(p.decided);
  EXPECT_LE(p.buffers.cand_scores.size(), 2u * 64);  // few candidates per row, each scored
  for (size_t r = 0; r < 64; ++r) EXPECT_EQ(p.labels[r], (r * 7919) % data.k);
}

// At 2,048-d with well-separated clusters the pivot search decides: its
// low-dimensional rows (64 pairs) are the last packed, so the full proposal
// never ran, and each row has one candidate.
TEST(NearestBf16, PivotSearchDecidesSeparatedClusters) {
  if (!simd::bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  const Data data = clustered(64, 300, 2048, 0.0f, 0.5f, 27);
  Proposed p = propose(data);
  ASSERT_TRUE(p.decided);
  EXPECT_EQ(p.buffers.bf16_rows.size(), 64u * simd::bf16_pairs(2048 / 16));
  EXPECT_EQ(p.buffers.cand_scores.size(), 64u);
  for (size_t r = 0; r < 64; ++r) EXPECT_EQ(p.labels[r], (r * 7919) % data.k);
}

// Non-finite rows make the proposal give way to the kernel.
TEST(NearestBf16, NonFiniteRowsFallBack) {
  if (!simd::bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  Data data = clustered(40, 64, 64, 0.0f, 0.5f, 17);
  data.x[5 * 64 + 3] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(propose(data).decided);
  data.x[5 * 64 + 3] = std::numeric_limits<float>::quiet_NaN();
  expect_same_as_canonical(data, simd::Metric::kL2, "nan row");
}

}  // namespace
}  // namespace lancer::linalg
