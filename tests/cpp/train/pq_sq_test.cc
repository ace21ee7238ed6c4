#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/executor.h"
#include "train/pq.h"
#include "train/random.h"
#include "train/small_kmeans.h"
#include "train/sq.h"

namespace lancer::train {
namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = g(gen);
  return v;
}

// Plain Lloyd (double-precision brute force) from the same random init as small_kmeans.
double reference_lloyd(const std::vector<float>& x, size_t n, size_t d, size_t k, int iters, uint64_t seed,
                       std::vector<float>& c) {
  Random rng(seed);
  auto rows = sample_distinct(n, k, rng);
  c.assign(k * d, 0);
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < d; ++j) c[i * d + j] = x[rows[i] * d + j];
  double loss = 0;
  std::vector<uint32_t> a(n);
  for (int it = 0; it < iters; ++it) {
    loss = 0;
    for (size_t i = 0; i < n; ++i) {
      double best = 1e300;
      for (size_t q = 0; q < k; ++q) {
        double s = 0;
        for (size_t j = 0; j < d; ++j)
          s += (double(x[i * d + j]) - c[q * d + j]) * (double(x[i * d + j]) - c[q * d + j]);
        if (s < best) best = s, a[i] = static_cast<uint32_t>(q);
      }
      loss += best;
    }
    std::vector<double> sum(k * d, 0);
    std::vector<size_t> cnt(k, 0);
    for (size_t i = 0; i < n; ++i) {
      ++cnt[a[i]];
      for (size_t j = 0; j < d; ++j) sum[a[i] * d + j] += x[i * d + j];
    }
    for (size_t q = 0; q < k; ++q)
      if (cnt[q])
        for (size_t j = 0; j < d; ++j) c[q * d + j] = static_cast<float>(sum[q * d + j] / double(cnt[q]));
  }
  return loss;
}

TEST(SmallKMeans, HamerlyMatchesPlainLloyd) {
  for (size_t d : {1, 2, 8, 16, 20}) {
    const size_t n = 3000, k = 32;
    auto x = gaussian(n * d, static_cast<uint32_t>(d));
    std::vector<float> ref;
    const double ref_loss = reference_lloyd(x, n, d, k, 15, 77, ref);
    std::vector<float> got(k * d);
    auto r = small_kmeans(x.data(), n, d, d, k, 15, 0.0, 77, got.data());
    EXPECT_NEAR(r.loss, ref_loss, 1e-4 * ref_loss) << "d=" << d;
    double diff = 0;
    for (size_t i = 0; i < k * d; ++i) diff = std::max(diff, double(std::abs(got[i] - ref[i])));
    EXPECT_LT(diff, 1e-3) << "d=" << d;
    EXPECT_LT(r.searched, 1.0);
  }
}

TEST(Pq, ShapeErrors) {
  core::InlineExecutor ex;
  auto x = gaussian(300 * 10, 1);
  PqParams p;
  p.num_sub_vectors = 3;
  auto r = train_pq({x.data(), 300, 10}, p, ex);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("dim % num_sub_vectors"), std::string::npos);
  p.num_sub_vectors = 5;
  p.num_bits = 4;
  EXPECT_EQ(train_pq({x.data(), 300, 10}, p, ex).status().code(), StatusCode::kInvalidArgument);  // odd m, 4 bits
  p.num_bits = 6;
  EXPECT_EQ(train_pq({x.data(), 300, 10}, p, ex).status().code(), StatusCode::kInvalidArgument);
  p.num_bits = 8;
  p.num_sub_vectors = 2;
  EXPECT_EQ(train_pq({x.data(), 200, 10}, p, ex).status().code(), StatusCode::kInvalidArgument);  // < 256 rows
  EXPECT_EQ(pq_from_codebook(std::vector<float>(10), 10, 2, 8).status().code(), StatusCode::kInvalidArgument);
}

TEST(Pq, EncodePicksTheNearestCodewordAndLayoutIsLances) {
  const size_t n = 600, d = 24;
  auto x = gaussian(n * d, 2);
  core::ThreadPool pool(2);
  for (int nbits : {8, 4}) {
    PqParams p;
    p.num_sub_vectors = 6;
    p.num_bits = nbits;
    p.max_iters = 10;
    auto model = train_pq({x.data(), n, d}, p, pool);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    const PqModel& m = **model;
    ASSERT_EQ(m.codebook.size(), size_t(1 << nbits) * d);
    EXPECT_EQ(m.code_size(), 6 * nbits / 8);
    std::vector<uint8_t> codes(n * m.code_size());
    ASSERT_TRUE(pq_encode(m, {x.data(), n, d}, codes, pool).ok());
    const int dsub = m.sub_dim(), ksub = m.num_codewords();
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      for (int s = 0; s < 6; ++s) {
        const int code = nbits == 8 ? codes[i * 6 + s] : (codes[i * 3 + s / 2] >> (4 * (s % 2))) & 0xf;
        // codebook index (s * ksub + k) * dsub + j, as Lance lays it out
        auto dist = [&](int k) {
          double t = 0;
          for (int j = 0; j < dsub; ++j) {
            const double v = double(x[i * d + s * dsub + j]) - m.codebook[(size_t(s) * ksub + k) * dsub + j];
            t += v * v;
          }
          return t;
        };
        double best = 1e300;
        for (int k = 0; k < ksub; ++k) best = std::min(best, dist(k));
        EXPECT_LE(dist(code), best + 1e-5);
        total += dist(code);
      }
      // the decoded vector reproduces exactly that error
      std::vector<float> rec(d);
      pq_decode(m, &codes[i * m.code_size()], rec.data());
      for (int s = 0; s < 6; ++s) {
        const int code = nbits == 8 ? codes[i * 6 + s] : (codes[i * 3 + s / 2] >> (4 * (s % 2))) & 0xf;
        EXPECT_EQ(rec[s * dsub], m.codeword(s, code)[0]);
      }
    }
    // encoding the training data reproduces the training loss (same assignment, final centroids: not worse)
    EXPECT_LE(total, m.loss * (1 + 1e-4));
  }
}

TEST(Pq, FourBitPackingLowNibbleFirst) {
  // codebook with 16 codewords per sub-vector, dsub 1: codeword k = k.
  std::vector<float> cb(2 * 16);
  for (int s = 0; s < 2; ++s)
    for (int k = 0; k < 16; ++k) cb[s * 16 + k] = float(k);
  auto model = pq_from_codebook(cb, 2, 2, 4);
  ASSERT_TRUE(model.ok());
  std::vector<float> x = {3, 12, 15, 0};
  std::vector<uint8_t> codes(2);
  core::InlineExecutor ex;
  ASSERT_TRUE(pq_encode(**model, {x.data(), 2, 2}, codes, ex).ok());
  EXPECT_EQ(codes[0], 0xC3);  // sub-vector 0 -> low nibble 3, sub-vector 1 -> high nibble 12
  EXPECT_EQ(codes[1], 0x0F);
}

TEST(Pq, ScalarQuantiserMseWithinPanterDite) {
  // dsub = 1, 16 levels on N(0,1): Lloyd-Max optimum 0.00950, Panter-Dite ~0.0106.
  const size_t n = 20000;
  auto x = gaussian(n * 2, 3);
  PqParams p;
  p.num_sub_vectors = 2;
  p.num_bits = 4;
  p.max_iters = 100;
  p.tolerance = 0;
  core::InlineExecutor ex;
  auto model = train_pq({x.data(), n, 2}, p, ex);
  ASSERT_TRUE(model.ok());
  const double mse = (*model)->loss / double(n * 2);
  EXPECT_LT(mse, 0.0106 * 1.1);
  EXPECT_GT(mse, 0.0090);
}

TEST(Pq, BitIdenticalForAnyThreadCountAndUserCodebook) {
  const size_t n = 2000, d = 32;
  auto x = gaussian(n * d, 4);
  PqParams p;
  p.num_sub_vectors = 8;
  p.max_iters = 6;
  p.seed = 5;
  core::InlineExecutor one;
  auto ref = train_pq({x.data(), n, d}, p, one);
  ASSERT_TRUE(ref.ok());
  std::vector<uint8_t> ref_codes(n * 8);
  ASSERT_TRUE(pq_encode(**ref, {x.data(), n, d}, ref_codes, one).ok());
  for (int threads : {2, 3}) {
    core::ThreadPool pool(threads);
    auto got = train_pq({x.data(), n, d}, p, pool);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ((*got)->codebook, (*ref)->codebook);
    std::vector<uint8_t> codes(n * 8);
    ASSERT_TRUE(pq_encode(**got, {x.data(), n, d}, codes, pool).ok());
    EXPECT_EQ(codes, ref_codes);
  }
  auto user = pq_from_codebook((*ref)->codebook, 32, 8, 8);
  ASSERT_TRUE(user.ok());
  std::vector<uint8_t> codes(n * 8);
  ASSERT_TRUE(pq_encode(**user, {x.data(), n, d}, codes, one).ok());
  EXPECT_EQ(codes, ref_codes);
}

TEST(Sq, BoundsAreGlobalMinMaxAndRoundTripWithinHalfStep) {
  const size_t n = 3000, d = 16;
  auto x = gaussian(n * d, 6, 3.0f);
  x[17] = std::nanf("");
  core::ThreadPool pool(2);
  auto model = train_sq({x.data(), n, d}, pool);
  ASSERT_TRUE(model.ok());
  float mn = 1e30f, mx = -1e30f;
  for (float v : x)
    if (std::isfinite(v)) mn = std::min(mn, v), mx = std::max(mx, v);
  EXPECT_EQ((*model)->start, double(mn));
  EXPECT_EQ((*model)->end, double(mx));
  std::vector<uint8_t> codes(n * d);
  ASSERT_TRUE(sq_encode(**model, {x.data(), n, d}, codes, pool).ok());
  const double step = ((*model)->end - (*model)->start) / 255.0;
  for (size_t i = 0; i < n * d; ++i) {
    if (!std::isfinite(x[i])) {
      EXPECT_EQ(codes[i], 0);
      continue;
    }
    const double rec = (*model)->start + (codes[i] + 0.5) * step;
    ASSERT_LE(std::abs(rec - x[i]), step / 2 * (1 + 1e-9)) << i;
    ASSERT_EQ(codes[i], static_cast<uint8_t>(std::min(255.0, std::floor((double(x[i]) - (*model)->start) * 255.0 /
                                                                        ((*model)->end - (*model)->start)))));
  }
  EXPECT_EQ(train_sq({x.data(), 0, d}, pool).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sq_from_bounds(4, 2.0, 1.0).status().code(), StatusCode::kInvalidArgument);
  auto flat = sq_from_bounds(2, 1.0, 1.0);
  ASSERT_TRUE(flat.ok());
  std::vector<float> y = {1, 5};
  std::vector<uint8_t> c(2, 9);
  ASSERT_TRUE(sq_encode(**flat, {y.data(), 1, 2}, c, pool).ok());
  EXPECT_EQ(c[0], 0);
  EXPECT_EQ(c[1], 0);
}

}  // namespace
}  // namespace lancer::train
