// Every ISA's kernels against the scalar reference (and the reference against
// double-precision brute force).
#include "simd/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "simd/codeword.h"
#include "simd/distance.h"
#include "simd/metric.h"
#include "simd/pq_table.h"
#include "simd/sq.h"

namespace lancer::simd {
namespace {

std::vector<SimdLevel> levels() {
  std::vector<SimdLevel> out{SimdLevel::kScalar};
  if (cpu_simd_level() >= SimdLevel::kAvx2) out.push_back(SimdLevel::kAvx2);
  if (cpu_simd_level() >= SimdLevel::kAvx512) out.push_back(SimdLevel::kAvx512);
  return out;
}

// A nearest-codeword search over `blocks` packed blocks (no second best unless set after).
CodewordSearch codeword_args(const std::vector<float>& xt, size_t blocks, const std::vector<float>& cb2,
                             const std::vector<float>& cnorm, size_t ksub, size_t dsub, std::vector<uint32_t>& idx,
                             std::vector<float>& best) {
  CodewordSearch a;
  a.xt = xt.data();
  a.num_blocks = blocks;
  a.cb = cb2.data();
  a.cnorm = cnorm.data();
  a.ksub = ksub;
  a.dsub = dsub;
  a.best_idx = idx.data();
  a.best = best.data();
  return a;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

TEST(SimdLevel, NamesRoundTrip) {
  for (auto l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512})
    EXPECT_EQ(parse_simd_level(simd_level_name(l)), l);
  EXPECT_FALSE(parse_simd_level("sse9").has_value());
  EXPECT_LE(best_simd_level(), cpu_simd_level());
  EXPECT_EQ(kernels_for(SimdLevel::kAvx512).level, std::min(cpu_simd_level(), SimdLevel::kAvx512));
}

TEST(Metric, Names) {
  for (auto m : {Metric::kL2, Metric::kCosine, Metric::kDot}) EXPECT_EQ(parse_metric(metric_name(m)), m);
}

TEST(Distance, MatchesBruteForceAtEveryLevel) {
  for (size_t d : {1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 128, 1023}) {
    const size_t n = 9;
    auto q = random_floats(d, 1 + d), x = random_floats(n * d, 2 + d);
    std::vector<double> l2(n), ip(n), cs(n);
    double qq = 0;
    for (size_t j = 0; j < d; ++j) qq += double(q[j]) * q[j];
    for (size_t i = 0; i < n; ++i) {
      double a = 0, b = 0, xx = 0;
      for (size_t j = 0; j < d; ++j) {
        const double t = double(q[j]) - x[i * d + j];
        a += t * t;
        b += double(q[j]) * x[i * d + j];
        xx += double(x[i * d + j]) * x[i * d + j];
      }
      l2[i] = a;
      ip[i] = b;
      cs[i] = 1.0 - b / std::sqrt(qq * xx);
    }
    for (SimdLevel level : levels()) {
      SCOPED_TRACE(std::string(simd_level_name(level)) + " d=" + std::to_string(d));
      std::vector<float> o1(n), o2(n), o3(n), o4(n);
      l2_sqr_batch(q.data(), x.data(), n, d, o1.data(), level);
      dot_batch(q.data(), x.data(), n, d, o2.data(), level);
      cosine_batch(q.data(), x.data(), n, d, o3.data(), level);
      norm_sqr_batch(x.data(), n, d, o4.data(), level);
      const double tol = 1e-5 * std::sqrt(double(d)) + 1e-6;
      for (size_t i = 0; i < n; ++i) {
        EXPECT_NEAR(o1[i], l2[i], tol * (1 + l2[i]));
        EXPECT_NEAR(o2[i], ip[i], tol * (1 + std::abs(qq) + d));
        EXPECT_NEAR(o3[i], cs[i], 1e-4);
        EXPECT_NEAR(l2_sqr(q.data(), x.data() + i * d, d, level), o1[i], 1e-6 * (1 + l2[i]));
        EXPECT_NEAR(dot(q.data(), x.data() + i * d, d, level), o2[i], 1e-5 * (1 + d));
        EXPECT_NEAR(cosine_distance(q.data(), x.data() + i * d, d, level), o3[i], 1e-5);
      }
      EXPECT_NEAR(o4[0], dot(x.data(), x.data(), d, SimdLevel::kScalar), 1e-5 * d);
    }
  }
}

TEST(Distance, CosineOfZeroVectorIsNaN) {
  std::vector<float> z(8, 0.0f), a(8, 1.0f);
  for (SimdLevel level : levels()) EXPECT_TRUE(std::isnan(cosine_distance(a.data(), z.data(), 8, level)));
}

TEST(Convert, HalfExhaustive) {
  std::vector<uint16_t> h(65536 + 5);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint16_t>(i);
  for (SimdLevel level : levels()) {
    std::vector<float> out(h.size());
    f16_to_f32(h.data(), h.size(), out.data(), level);
    for (size_t i = 0; i < h.size(); ++i) {
      const float ref = core::half_to_float(h[i]);
      if (std::isnan(ref)) {
        ASSERT_TRUE(std::isnan(out[i])) << i;
      } else {
        ASSERT_EQ(std::memcmp(&ref, &out[i], 4), 0) << simd_level_name(level) << " half " << i;
      }
    }
  }
}

TEST(Convert, U8) {
  std::vector<uint8_t> b(256 * 3 + 7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7);
  for (SimdLevel level : levels()) {
    std::vector<float> out(b.size());
    u8_to_f32(b.data(), b.size(), out.data(), level);
    for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(out[i], float(b[i]));
  }
}

TEST(Argmin, EveryLevelMatchesScalarIncludingTies) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> small(0, 6);
  for (size_t cols : {1, 5, 16, 17, 31, 32, 33, 100, 1024}) {
    const size_t rows = 13, ld = cols + 3;
    std::vector<float> block(rows * ld), bias(cols);
    for (auto& v : block) v = float(small(gen));  // many ties
    for (auto& v : bias) v = float(small(gen));
    block[ld + 0] = std::numeric_limits<float>::quiet_NaN();
    for (const float* bp : {static_cast<const float*>(nullptr), static_cast<const float*>(bias.data())}) {
      std::vector<float> ref_best(rows, 3.5f);
      std::vector<uint32_t> ref_idx(rows, 999);
      argmin_update(block.data(), rows, cols, ld, bp, 40, ref_best.data(), ref_idx.data(), SimdLevel::kScalar);
      for (size_t i = 0; i < rows; ++i) {  // brute force: first minimum below the running best
        float b = 3.5f;
        uint32_t bi = 999;
        for (size_t j = 0; j < cols; ++j) {
          const float v = block[i * ld + j] + (bp ? bp[j] : 0.0f);
          if (v < b) b = v, bi = 40 + uint32_t(j);
        }
        ASSERT_EQ(ref_idx[i], bi);
        ASSERT_EQ(ref_best[i], b);
      }
      for (SimdLevel level : levels()) {
        std::vector<float> best(rows, 3.5f);
        std::vector<uint32_t> idx(rows, 999);
        argmin_update(block.data(), rows, cols, ld, bp, 40, best.data(), idx.data(), level);
        EXPECT_EQ(idx, ref_idx) << simd_level_name(level) << " cols " << cols;
        EXPECT_EQ(best, ref_best);
      }
    }
  }
}

TEST(Codeword, EveryLevelMatchesScalarExactly) {
  // ksub 9-15 and 21: every count of codewords left after the AVX-512 kernel's groups of 8.
  for (size_t dsub : {1, 2, 3, 4, 8, 12, 16, 24, 32, 128}) {
    for (size_t ksub : {5, 9, 10, 11, 12, 13, 14, 15, 16, 21, 256}) {
      const size_t n = 37;
      auto x = random_floats(n * dsub, uint32_t(dsub * 1000 + ksub));
      auto cb = random_floats(ksub * dsub, uint32_t(dsub * 7 + ksub));
      std::vector<float> xt(packed_size(n, dsub)), cb2(ksub * dsub), cn(ksub);
      pack_blocks(x.data(), n, dsub, dsub, xt.data());
      prepare_codewords(cb.data(), ksub, dsub, cb2.data(), cn.data());
      const size_t blocks = (n + 15) / 16;
      // Without `second`, the kernels' other instantiation (no second best).
      auto run = [&](SimdLevel level, std::vector<uint32_t>& idx, std::vector<float>& best,
                     std::vector<float>* second) {
        idx.assign(blocks * 16, 0);
        best.assign(blocks * 16, 0);
        if (second != nullptr) second->assign(blocks * 16, 0);
        CodewordSearch a = codeword_args(xt, blocks, cb2, cn, ksub, dsub, idx, best);
        a.second = second != nullptr ? second->data() : nullptr;
        nearest_codewords(a, level);
      };
      std::vector<uint32_t> ref_idx;
      std::vector<float> ref_best, ref_second;
      run(SimdLevel::kScalar, ref_idx, ref_best, &ref_second);
      for (size_t i = 0; i < n; ++i) {  // reference = true nearest (up to rounding)
        double bd = 1e300;
        for (size_t k = 0; k < ksub; ++k) {
          double s = 0;
          for (size_t j = 0; j < dsub; ++j) {
            const double t = double(x[i * dsub + j]) - cb[k * dsub + j];
            s += t * t;
          }
          bd = std::min(bd, s);
        }
        double xx = 0;
        for (size_t j = 0; j < dsub; ++j) xx += double(x[i * dsub + j]) * x[i * dsub + j];
        EXPECT_NEAR(ref_best[i] + xx, bd, 1e-4 * (1 + xx + bd));
        EXPECT_GE(ref_second[i], ref_best[i]);
      }
      for (SimdLevel level : levels()) {
        std::vector<uint32_t> idx;
        std::vector<float> best, second;
        run(level, idx, best, &second);
        SCOPED_TRACE(std::string(simd_level_name(level)) + " dsub " + std::to_string(dsub));
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(idx[i], ref_idx[i]);
          ASSERT_EQ(best[i], ref_best[i]);
          ASSERT_EQ(second[i], ref_second[i]);
        }
        std::vector<uint32_t> idx1;
        std::vector<float> best1;
        run(level, idx1, best1, nullptr);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(idx1[i], ref_idx[i]);
          ASSERT_EQ(best1[i], ref_best[i]);
        }
      }
    }
  }
}

uint8_t lance_sq(float v, double start, double end) {  // the formula of lance-format.md 5.6
  if (start == end) return 0;
  const double t = std::floor((double(v) - start) * 255.0 / (end - start));
  if (std::isnan(t) || t < 0) return 0;
  if (t > 255) return 255;
  return static_cast<uint8_t>(t);
}

TEST(Sq, BitExactWithLanceFormula) {
  auto x = random_floats(1000 + 13, 99, 5.0f);
  x[0] = std::numeric_limits<float>::quiet_NaN();
  x[1] = std::numeric_limits<float>::infinity();
  x[2] = -std::numeric_limits<float>::infinity();
  x[3] = -12.877359390258789f;
  x[4] = 10.738153457641602f;
  x[5] = -100;
  x[6] = 100;
  x[7] = -0.0f;
  const double start = -12.877359390258789, end = 10.738153457641602;
  for (SimdLevel level : levels()) {
    for (size_t n : {size_t(1000 + 13), size_t(7), size_t(16), size_t(0)}) {
      std::vector<uint8_t> out(n + 1, 0xAB);
      sq_encode(x.data(), n, start, end, out.data(), level);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], lance_sq(x[i], start, end)) << i << " " << x[i];
      ASSERT_EQ(out[n], 0xAB);  // no overrun
    }
    std::vector<uint8_t> z(5, 7);
    sq_encode(x.data() + 10, 5, 1.5, 1.5, z.data(), level);
    for (auto c : z) EXPECT_EQ(c, 0);
  }
  // Values on and next to every code boundary (where a division-free kernel
  // could floor differently), for a few bound pairs.
  for (auto [s0, e0] : {std::pair<double, double>{start, end}, {0.0, 255.0}, {-1.0, 1.0}, {0.1, 0.7}, {-3.0, 1e-3}}) {
    std::vector<float> g;
    for (int c = -2; c <= 258; ++c) {
      const float v = static_cast<float>(s0 + (e0 - s0) * c / 255.0);
      g.push_back(v);
      g.push_back(std::nextafter(v, 1e30f));
      g.push_back(std::nextafter(v, -1e30f));
    }
    for (SimdLevel level : levels()) {
      std::vector<uint8_t> out(g.size());
      sq_encode(g.data(), g.size(), s0, e0, out.data(), level);
      for (size_t i = 0; i < g.size(); ++i)
        ASSERT_EQ(out[i], lance_sq(g[i], s0, e0))
            << simd_level_name(level) << " " << g[i] << " in [" << s0 << ", " << e0 << "]";
    }
  }
  // Random bounds (including f64 bounds that are not f32 values, far-from-zero
  // ranges and huge scales) against random values.
  std::mt19937 gen(12345);
  std::uniform_real_distribution<double> ud(-1.0, 1.0);
  for (int trial = 0; trial < 200; ++trial) {
    const double mag = std::pow(10.0, ud(gen) * 6);
    double s0 = ud(gen) * mag, e0 = s0 + std::abs(ud(gen)) * mag * std::pow(10.0, ud(gen) * 3);
    if (trial % 3 == 0) s0 = double(float(s0)), e0 = double(float(e0));
    if (!(e0 > s0)) continue;
    std::vector<float> v(301);
    for (auto& f : v) f = static_cast<float>(s0 + (e0 - s0) * (ud(gen) * 0.6 + 0.5));
    for (SimdLevel level : levels()) {
      std::vector<uint8_t> out(v.size());
      sq_encode(v.data(), v.size(), s0, e0, out.data(), level);
      for (size_t i = 0; i < v.size(); ++i)
        ASSERT_EQ(out[i], lance_sq(v[i], s0, e0))
            << simd_level_name(level) << " " << v[i] << " in [" << s0 << ", " << e0 << "]";
    }
  }
  // The example row of lance-format.md 5.6: codes 99, 130, 83, 102.
  const float row[4] = {-3.6617f, -0.7674f, -5.1129f, -3.3892f};
  uint8_t codes[4];
  sq_encode(row, 4, start, end, codes);
  EXPECT_EQ(codes[0], 99);
  EXPECT_EQ(codes[1], 130);
  EXPECT_EQ(codes[2], 83);
  EXPECT_EQ(codes[3], 102);
}

TEST(PqTable, MatchesBruteForce) {
  for (size_t dsub : {2, 8, 16, 20}) {
    const size_t m = 3, ksub = 16;
    auto q = random_floats(m * dsub, 5), cb = random_floats(m * ksub * dsub, 6);
    for (SimdLevel level : levels()) {
      std::vector<float> l2(m * ksub), ip(m * ksub);
      pq_l2_table(q.data(), cb.data(), m, ksub, dsub, l2.data(), level);
      pq_dot_table(q.data(), cb.data(), m, ksub, dsub, ip.data(), level);
      for (size_t s = 0; s < m; ++s)
        for (size_t k = 0; k < ksub; ++k) {
          double a = 0, b = 0;
          for (size_t j = 0; j < dsub; ++j) {
            const double c = cb[(s * ksub + k) * dsub + j], v = q[s * dsub + j];
            a += (v - c) * (v - c);
            b += v * c;
          }
          EXPECT_NEAR(l2[s * ksub + k], a, 1e-4 * (1 + a));
          EXPECT_NEAR(ip[s * ksub + k], b, 1e-4 * (1 + std::abs(b)));
        }
    }
  }
}

}  // namespace
}  // namespace lancer::simd

namespace lancer::simd {
namespace {

TEST(AddRows, EveryLevelBitIdentical) {
  for (size_t d : {1, 5, 8, 13, 16, 128, 131}) {
    const size_t n = 50;
    auto x = random_floats(n * d, uint32_t(d));
    std::vector<uint32_t> rows = {3, 7, 7, 0, 49, 12, 25};
    std::vector<double> ref(d, 0.5);
    scalar_kernels().add_rows_f64(x.data(), d, rows.data(), rows.size(), ref.data());
    for (SimdLevel level : levels()) {
      std::vector<double> acc(d, 0.5);
      kernels_for(level).add_rows_f64(x.data(), d, rows.data(), rows.size(), acc.data());
      EXPECT_EQ(acc, ref) << simd_level_name(level) << " d=" << d;
    }
  }
}

// The arguments the bounds-pass tests share (drift_* zero, no packing, no room unless set after).
BoundsPass bounds_args(const std::vector<float>& xt, size_t n, size_t dsub, const std::vector<uint32_t>& label,
                       std::vector<float>& upper, std::vector<float>& lower, const std::vector<float>& drift,
                       const std::vector<float>& gap, const std::vector<float>& cent, std::vector<uint32_t>& todo) {
  BoundsPass a;
  a.xt = xt.data();
  a.n = n;
  a.dsub = dsub;
  a.label = label.data();
  a.upper = upper.data();
  a.lower = lower.data();
  a.drift = drift.data();
  a.half_gap = gap.data();
  a.centroids = cent.data();
  a.todo = todo.data();
  return a;
}

// A point the pass leaves out keeps its label, so that label must be the canonical kernel's winner
// (kernels.h): its skip test leaves room for both canonical scores' rounding (2 err), or labels would
// depend on which bounds a machine's search returned. Near ties far from the origin, where the
// canonical scores' cancellation is large: u (1 + 1e-5) <= lower alone would skip points whose
// canonical winner is the other codeword.
TEST(BoundsPass, SkipsOnlyPointsWhoseCanonicalWinnerStays) {
  constexpr size_t d = 16, k = 2;
  const float err_slack = 2e-7f * (d + 4);  // small_kmeans' slack_for(16)
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  size_t skipped = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const float scale = trial % 2 == 0 ? 300.0f : 0.3f;  // far from the origin, and near it
    std::vector<float> x(d), cent(k * d);
    for (size_t j = 0; j < d; ++j) {
      x[j] = scale * normal(gen);
      cent[j] = x[j] + normal(gen);
    }
    // b: a's mirror image through a hyperplane just past x's distance (d_b^2 ~ d_a^2 (1 + 3e-5)).
    double da2 = 0;
    for (size_t j = 0; j < d; ++j) da2 += double(cent[j] - x[j]) * double(cent[j] - x[j]);
    const double stretch = std::sqrt(1 + 3e-5 + 1e-5 * (gen() % 8));
    for (size_t j = 0; j < d; ++j) cent[d + j] = static_cast<float>(x[j] - (cent[j] - x[j]) * stretch);
    double dist[k];
    for (size_t c = 0; c < k; ++c) {
      dist[c] = 0;
      for (size_t j = 0; j < d; ++j) dist[c] += double(cent[c * d + j] - x[j]) * double(cent[c * d + j] - x[j]);
      dist[c] = std::sqrt(dist[c]);
    }
    std::vector<float> cb2(k * d), cnorm(k);
    prepare_codewords(cent.data(), k, d, cb2.data(), cnorm.data());
    std::vector<float> xt(packed_size(1, d));
    pack_blocks(x.data(), 1, d, d, xt.data());
    // The canonical winner: the scalar kernel's.
    std::vector<uint32_t> win(16);
    std::vector<float> best(16);
    scalar_kernels().nearest_codeword(codeword_args(xt, 1, cb2, cnorm, k, d, win, best));
    const uint32_t canonical = win[0];
    double xx = 0;
    for (size_t j = 0; j < d; ++j) xx += double(x[j]) * x[j];
    const float xn = static_cast<float>(xx), cmax = std::max(cnorm[0], cnorm[1]);
    for (SimdLevel level : levels()) {
      for (uint32_t own : {0u, 1u}) {
        const uint32_t other = 1 - own;
        std::vector<uint32_t> label = {own}, todo(1);
        std::vector<float> upper = {static_cast<float>(dist[own])};
        // Valid bounds: the other codeword's distance rounded down.
        std::vector<float> lower = {std::nextafter(static_cast<float>(dist[other]), 0.0f)};
        std::vector<float> drift(k, 0.0f), gap(k, 0.0f);
        BoundsPass a = bounds_args(xt, 1, d, label, upper, lower, drift, gap, cent, todo);
        a.xn = &xn;
        a.err_slack = err_slack;
        a.cmax = cmax;
        if (kernels_for(level).bounds_pass(a) == 0) {
          ++skipped;
          ASSERT_EQ(own, canonical) << simd_level_name(level) << " trial " << trial;
        }
      }
    }
  }
  EXPECT_GT(skipped, 0u);  // near the origin the margin is small enough to skip
}

TEST(BoundsPass, EveryLevelMatchesScalar) {
  std::mt19937 gen(3);
  for (bool room : {false, true})
    for (size_t dsub : {1, 4, 8, 16, 20}) {
      for (size_t n : {1, 15, 16, 17, 100, 301}) {
        const size_t k = 12;
        auto x = random_floats(n * dsub, uint32_t(dsub + n));
        auto cent = random_floats(k * dsub, 5);
        std::vector<float> xt(packed_size(n, dsub));
        pack_blocks(x.data(), n, dsub, dsub, xt.data());
        std::vector<uint32_t> label(n);
        std::vector<float> upper(n), lower(n), drift(k), gap(k), xn(n);
        std::uniform_real_distribution<float> u01(0.0f, 1.0f);
        for (size_t i = 0; i < n; ++i) {
          label[i] = static_cast<uint32_t>(gen() % k);
          upper[i] = 2.0f * u01(gen);
          lower[i] = 2.5f * u01(gen);
          xn[i] = 4.0f * u01(gen);  // with `room`: the canonical-error room takes a visible share
        }
        for (size_t c = 0; c < k; ++c) {
          drift[c] = 0.2f * u01(gen);
          gap[c] = 1.5f * u01(gen);
        }
        std::vector<float> packed;  // todo_xt of the last run, NaN where nothing was written
        auto run = [&](SimdLevel level, std::vector<float>& up, std::vector<float>& lo, std::vector<uint32_t>& todo) {
          up = upper;
          lo = lower;
          todo.assign(n, 0);
          packed.assign(packed_size(n, dsub), std::numeric_limits<float>::quiet_NaN());
          BoundsPass a = bounds_args(xt, n, dsub, label, up, lo, drift, gap, cent, todo);
          a.drift_max = 0.19f;
          a.drift_second = 0.15f;
          a.drift_argmax = 3;
          a.todo_xt = packed.data();
          if (room) {
            a.xn = xn.data();
            a.err_slack = 0.02f;
            a.cmax = 1.0f;
          }
          todo.resize(kernels_for(level).bounds_pass(a));
        };
        std::vector<float> ru, rl;
        std::vector<uint32_t> rt;
        run(SimdLevel::kScalar, ru, rl, rt);
        // The selected points packed from the scalar todo list, by plain indexing.
        std::vector<float> want(packed_size(rt.size(), dsub), 0.0f);
        for (size_t t = 0; t < rt.size(); ++t)
          for (size_t j = 0; j < dsub; ++j) want[((t / 16) * dsub + j) * 16 + t % 16] = x[rt[t] * dsub + j];
        for (SimdLevel level : levels()) {
          std::vector<float> gu, gl;
          std::vector<uint32_t> gt;
          run(level, gu, gl, gt);
          EXPECT_EQ(gu, ru) << simd_level_name(level);
          EXPECT_EQ(gl, rl);
          EXPECT_EQ(gt, rt);
          EXPECT_EQ(std::vector<float>(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(want.size())), want)
              << simd_level_name(level) << " dsub=" << dsub << " n=" << n << " selected=" << rt.size();
        }
      }
    }
}

}  // namespace
}  // namespace lancer::simd
