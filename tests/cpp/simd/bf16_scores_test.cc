// The bfloat16 proposal's kernels (simd/bf16_scores.h) against a scalar
// reference: rows and centroid panels rounded to bfloat16 bit for bit, and
// every score within the float-summation bound of the exact sum of the
// rounded products (the bound nearest_bf16.cc's margin assumes).
#include "simd/bf16_scores.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "simd/codeword.h"

namespace lancer::simd {
namespace {

// Round to nearest even, as vcvtne2ps2bf16 does for normal floats.
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float from_bf16(uint32_t pair, int half) {
  const uint32_t u = half ? (pair & 0xffff0000u) : (pair << 16);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

std::vector<float> normals(size_t n, uint32_t seed, float offset) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n);
  for (auto& x : v) x = offset + g(gen);
  return v;
}

TEST(Bf16Scores, KernelMatchesTheScalarReference) {
  if (!bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  struct Shape {
    size_t n, k, d;
  };
  // k: one panel, an odd number of panels (the single-panel tail), pairs of panels, the seed's 1,131.
  // n >= 16 with d a multiple of 32 also runs AMX's tiles where the CPU has them (32- and 16-row
  // bands, the rows after them here).
  for (Shape s : {Shape{1, 16, 2}, Shape{13, 33, 64}, Shape{8, 48, 130}, Shape{21, 64, 31}, Shape{9, 1131, 2048},
                  Shape{56, 1131, 2048}, Shape{40, 48, 64}, Shape{16, 16, 1024}}) {
    SCOPED_TRACE("n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) + " d=" + std::to_string(s.d));
    const size_t pairs = bf16_pairs(s.d), kp = bf16_round_up(s.k, kBf16Panel), np = bf16_round_up(s.n, kBf16RowTile);
    const auto x = normals(s.n * s.d, 1, 0.5f), c = normals(s.k * s.d, 2, 0.5f), shift = normals(s.d, 3, 0.5f);
    std::vector<uint32_t> rows(np * pairs, 0xdeadbeef), panels(kp * pairs, 0xdeadbeef);
    bf16_pack_rows(x.data(), s.n, s.d, s.d, shift.data(), rows.data());
    bf16_pack_panels(c.data(), s.k, s.d, shift.data(), panels.data());
    // The packing: (value - shift) rounded to float, then to bfloat16; padding zero.
    auto packed = [&](const std::vector<float>& v, size_t i, size_t j) -> uint16_t {
      return j < s.d ? to_bf16(v[i * s.d + j] - shift[j]) : 0;
    };
    for (size_t r = 0; r < np; ++r)
      for (size_t j = 0; j < pairs; ++j) {
        const uint32_t want = r < s.n ? packed(x, r, 2 * j) | uint32_t{packed(x, r, 2 * j + 1)} << 16 : 0;
        ASSERT_EQ(rows[r * pairs + j], want) << "row " << r << " pair " << j;
      }
    for (size_t i = 0; i < kp; ++i)
      for (size_t j = 0; j < pairs; ++j) {
        const uint32_t want = i < s.k ? packed(c, i, 2 * j) | uint32_t{packed(c, i, 2 * j + 1)} << 16 : 0;
        ASSERT_EQ(panels[((i / 16) * pairs + j) * 16 + i % 16], want) << "centroid " << i << " pair " << j;
      }
    std::vector<float> out(np * kp, std::nanf(""));
    bf16_scores(rows.data(), np, panels.data(), kp, pairs, out.data());
    const double gamma = static_cast<double>(2 * pairs) * 0x1p-24 / (1 - static_cast<double>(2 * pairs) * 0x1p-24);
    for (size_t r = 0; r < np; ++r)
      for (size_t i = 0; i < kp; ++i) {
        double exact = 0, magnitude = 0;
        for (size_t j = 0; j < pairs; ++j)
          for (int h = 0; h < 2; ++h) {
            const double p = static_cast<double>(from_bf16(rows[r * pairs + j], h)) *
                             static_cast<double>(from_bf16(panels[((i / 16) * pairs + j) * 16 + i % 16], h));
            exact += p;
            magnitude += std::fabs(p);
          }
        ASSERT_LE(std::fabs(static_cast<double>(out[r * kp + i]) - exact), gamma * magnitude + 1e-30)
            << "row " << r << " centroid " << i;
      }
  }
}

// Pair scores from packed blocks equal the scalar chains bit for bit, for
// every combination of up to 32 / up to 64 rows and centroids, any pair
// order, and counts that leave partial groups.
TEST(Bf16Scores, PackedPairScoresEqualTheScalarChains) {
  if (!bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  std::mt19937 gen(5);
  for (size_t m : {1, 17, 32, 33, 64})
    for (size_t k : {3, 32, 48, 64})
      for (size_t d : {1, 15, 130}) {
        SCOPED_TRACE("m=" + std::to_string(m) + " k=" + std::to_string(k) + " d=" + std::to_string(d));
        const auto x = normals(m * d, 7, 0.0f), cb = normals(k * d, 8, 0.0f), cnorm = normals(k, 9, 3.0f);
        std::vector<float> xt(packed_size(m, d)), cbt(packed_size(k, d));
        pack_blocks(x.data(), m, d, d, xt.data());
        pack_blocks(cb.data(), k, d, d, cbt.data());
        const size_t count = 1 + gen() % (3 * m);
        std::vector<uint32_t> rows(count), cols(count);
        for (size_t i = 0; i < count; ++i) {
          rows[i] = static_cast<uint32_t>(gen() % m);
          cols[i] = static_cast<uint32_t>(gen() % k);
        }
        std::vector<float> want(count), got(count, std::nanf(""));
        canonical_pair_scores(x.data(), d, d, cb.data(), cnorm.data(), rows.data(), cols.data(), count, want.data());
        canonical_pair_scores_packed(xt.data(), m, cbt.data(), k, d, cnorm.data(), rows.data(), cols.data(), count,
                                     got.data());
        ASSERT_EQ(std::memcmp(want.data(), got.data(), count * sizeof(float)), 0);
      }
}

}  // namespace
}  // namespace lancer::simd

namespace lancer::simd {
namespace {

// The pivot search's helpers against plain loops: the first smallest
// cn - 2 s of each row (NaN never chosen), and the indices of values at most a limit.
TEST(Bf16Scores, PivotHelpersMatchPlainLoops) {
  if (!bf16_scores_available()) GTEST_SKIP() << "no AVX512-BF16 here";
  for (size_t k : {1u, 15u, 16u, 17u, 100u, 1131u}) {
    SCOPED_TRACE(k);
    const size_t m = 9, kp = bf16_round_up(k, kBf16Panel);
    std::vector<float> scores = normals(m * kp, 31 + static_cast<uint32_t>(k), 0.0f), cn = normals(k, 37, 3.0f);
    scores[2 * kp] = std::numeric_limits<float>::quiet_NaN();
    if (k > 3) scores[3 * kp + k - 1] = scores[3 * kp + 1] = 1e6f;  // a tie, to the lower index
    if (k > 3) cn[k - 1] = cn[1];
    std::vector<uint32_t> got(m);
    bf16_pivots(scores.data(), m, kp, k, cn.data(), got.data());
    for (size_t r = 0; r < m; ++r) {
      uint32_t want = 0;
      float best = std::numeric_limits<float>::infinity();
      for (size_t c = 0; c < k; ++c) {
        const float a = cn[c] - 2 * scores[r * kp + c];
        if (a < best) best = a, want = static_cast<uint32_t>(c);
      }
      EXPECT_EQ(got[r], want) << "row " << r;
    }
    const std::vector<float> v = normals(k, 41, 0.0f);
    for (float limit : {-10.0f, -0.5f, 0.0f, 0.7f, 10.0f}) {
      std::vector<uint32_t> want;
      for (size_t c = 0; c < k; ++c)
        if (v[c] <= limit) want.push_back(static_cast<uint32_t>(c));
      std::vector<uint32_t> out(k + 1);
      ASSERT_EQ(indices_at_most(v.data(), k, limit, out.data(), k), want.size());
      out.resize(want.size());
      EXPECT_EQ(out, want);
      if (!want.empty()) {
        EXPECT_EQ(indices_at_most(v.data(), k, limit, out.data(), want.size() - 1), want.size());
      }
    }
  }
}

}  // namespace
}  // namespace lancer::simd
