// The int8 codeword search (simd/codeword_i8.h) against the canonical
// kernel: labels, best and second scores bit for bit, on data built to be
// hard for the bound (near ties, far from the origin, tiny and huge values).
#include "simd/codeword_i8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "simd/codeword.h"

namespace lancer::simd {
namespace {

struct Case {
  std::string name;
  std::vector<float> x, codebook;  // [n][dsub], [ksub][dsub]
};

// n points and ksub codewords of width d: Gaussian, far from the origin, near
// ties (points halfway between codewords, duplicated codewords, points on
// codewords), tiny and huge values (the huge ones leave the bound's range),
// points of very different sizes, codewords of very different sizes, a
// lattice of equal distances.
std::vector<Case> cases(size_t n, size_t ksub, size_t d) {
  std::mt19937 gen(static_cast<uint32_t>(n * 31 + ksub * 7 + d));
  std::normal_distribution<float> g;
  auto fill = [&](size_t count, float scale, float offset) {
    std::vector<float> v(count);
    for (auto& e : v) e = offset + scale * g(gen);
    return v;
  };
  std::vector<Case> out;
  out.push_back({"gaussian", fill(n * d, 1.0f, 0.0f), fill(ksub * d, 0.8f, 0.0f)});
  out.push_back({"far", fill(n * d, 1.0f, 300.0f), fill(ksub * d, 1.0f, 300.0f)});
  {
    Case c{"ties", fill(n * d, 1.0f, 0.0f), fill(ksub * d, 1.0f, 0.0f)};
    for (size_t k = 1; k < ksub; k += 5) std::copy_n(&c.codebook[(k - 1) * d], d, &c.codebook[k * d]);
    for (size_t i = 0; i < n; ++i) {
      const size_t a = (i * 13) % ksub, b = (i * 7 + 3) % ksub;
      for (size_t j = 0; j < d; ++j) {
        const float ca = c.codebook[a * d + j], cb = c.codebook[b * d + j];
        c.x[i * d + j] = i % 3 == 0 ? ca : i % 3 == 1 ? 0.5f * (ca + cb) : c.x[i * d + j];
      }
    }
    out.push_back(std::move(c));
  }
  out.push_back({"tiny", fill(n * d, 1e-30f, 0.0f), fill(ksub * d, 1e-30f, 0.0f)});
  {
    Case c{"huge", fill(n * d, 1.0f, 0.0f), fill(ksub * d, 1.0f, 0.0f)};
    for (size_t j = 0; j < d; ++j) c.x[5 * d + j] *= 1e19f;  // one block out of range, the others not
    out.push_back(std::move(c));
  }
  {  // points of very different sizes in one block (the block shares one int8 scale)
    Case c{"mixed", fill(n * d, 1.0f, 0.0f), fill(ksub * d, 1.0f, 0.0f)};
    for (size_t i = 0; i < n; i += 7)
      for (size_t j = 0; j < d; ++j) c.x[i * d + j] *= 300.0f;
    out.push_back(std::move(c));
  }
  {  // codewords of very different sizes (each gets its own share of the bound with the second score)
    Case c{"spread", fill(n * d, 0.3f, 0.0f), fill(ksub * d, 1.0f, 0.0f)};
    for (size_t k = 0; k < ksub; ++k)
      for (size_t j = 0; j < d; ++j) c.codebook[k * d + j] *= static_cast<float>(k % 8 + 1) / 8.0f;
    for (size_t i = 0; i < n; i += 3) {  // some points halfway between a small and a large codeword
      const size_t a = (i * 8) % ksub, b = (i * 8 + 7) % ksub;
      for (size_t j = 0; j < d; ++j) c.x[i * d + j] = 0.5f * (c.codebook[a * d + j] + c.codebook[b * d + j]);
    }
    out.push_back(std::move(c));
  }
  {  // a lattice: many exactly equal distances
    Case c{"lattice", std::vector<float>(n * d), std::vector<float>(ksub * d)};
    for (size_t i = 0; i < n * d; ++i) c.x[i] = static_cast<float>(static_cast<int>(gen() % 5) - 2) * 0.5f;
    for (size_t i = 0; i < ksub * d; ++i) c.codebook[i] = static_cast<float>(static_cast<int>(gen() % 3) - 1);
    out.push_back(std::move(c));
  }
  return out;
}

struct Shape {
  size_t n, ksub, d;
};

// One case prepared for both kernels, with the scalar kernel's labels, best and second scores.
struct Searches {
  Shape s;
  size_t blocks;
  std::vector<float> xt, cb2, cnorm;
  I8Codebook book;
  std::vector<uint32_t> idx;
  std::vector<float> best, second;

  Searches(const Case& c, Shape shape)
      : s(shape), blocks((s.n + 15) / 16), xt(packed_size(s.n, s.d)), cb2(s.ksub * s.d), cnorm(s.ksub),
        idx(blocks * 16), best(blocks * 16), second(blocks * 16) {
    pack_blocks(c.x.data(), s.n, s.d, s.d, xt.data());
    prepare_codewords(c.codebook.data(), s.ksub, s.d, cb2.data(), cnorm.data());
    prepare_codewords_i8(c.codebook.data(), s.ksub, s.d, &book);
    CodewordSearch a = args(idx, best, &second);
    nearest_codewords(a, SimdLevel::kScalar);
  }
  CodewordSearch args(std::vector<uint32_t>& i, std::vector<float>& b, std::vector<float>* sec) {
    CodewordSearch a;
    a.xt = xt.data();
    a.num_blocks = blocks;
    a.cb = cb2.data();
    a.cnorm = cnorm.data();
    a.ksub = s.ksub;
    a.dsub = s.d;
    a.best_idx = i.data();
    a.best = b.data();
    a.second = sec ? sec->data() : nullptr;
    return a;
  }
};

TEST(CodewordI8, SameLabelsAndScoresAsTheCanonicalKernel) {
  if (!codeword_i8_supported(256, 16)) GTEST_SKIP() << "no AVX512-VNNI here (or not the AVX-512 level)";
  for (Shape s : {Shape{333, 256, 16}, Shape{200, 256, 8}, Shape{50, 16, 16}, Shape{77, 32, 8}, Shape{16, 64, 16}}) {
    for (const Case& c : cases(s.n, s.ksub, s.d)) {
      SCOPED_TRACE(c.name + " n=" + std::to_string(s.n) + " ksub=" + std::to_string(s.ksub) +
                   " d=" + std::to_string(s.d));
      Searches ref(c, s);
      for (bool with_second : {true, false}) {
        std::vector<uint32_t> idx1(ref.blocks * 16, 12345);
        std::vector<float> best1(ref.blocks * 16), sec1(ref.blocks * 16);
        nearest_codewords_i8(ref.args(idx1, best1, with_second ? &sec1 : nullptr), ref.book);
        for (size_t i = 0; i < s.n; ++i) {
          ASSERT_EQ(ref.idx[i], idx1[i]) << "point " << i;
          ASSERT_EQ(std::memcmp(&ref.best[i], &best1[i], sizeof(float)), 0) << "point " << i;
          if (!with_second) continue;
          ASSERT_EQ(std::memcmp(&ref.second[i], &sec1[i], sizeof(float)), 0) << "point " << i;
        }
      }
    }
  }
}

// Where bounds suffice (k-means): the same labels; each point either has the
// canonical best and second bit for bit, or bounds on the real scores
// v_c = |x - c|^2 - |x|^2 (best above its own codeword's, second below every
// other's). The int16 proposals prove most Gaussian points' labels.
TEST(CodewordI8, BoundsWhereTheyProveTheLabel) {
  if (!codeword_i8_supported(256, 16)) GTEST_SKIP() << "no AVX512-VNNI here (or not the AVX-512 level)";
  for (Shape s : {Shape{333, 256, 16}, Shape{200, 256, 8}, Shape{50, 16, 16}, Shape{77, 32, 8}}) {
    for (const Case& c : cases(s.n, s.ksub, s.d)) {
      SCOPED_TRACE(c.name + " n=" + std::to_string(s.n) + " ksub=" + std::to_string(s.ksub) +
                   " d=" + std::to_string(s.d));
      Searches ref(c, s);
      const std::vector<uint32_t>& idx0 = ref.idx;
      const std::vector<float>&best0 = ref.best, &sec0 = ref.second;
      std::vector<uint32_t> idx1(ref.blocks * 16, 12345);
      std::vector<float> best1(ref.blocks * 16), sec1(ref.blocks * 16);
      CodewordSearch a = ref.args(idx1, best1, &sec1);
      a.bounds_suffice = true;
      nearest_codewords_i8(a, ref.book);
      size_t bounded = 0;
      for (size_t i = 0; i < s.n; ++i) {
        ASSERT_EQ(idx0[i], idx1[i]) << "point " << i;
        if (std::memcmp(&best0[i], &best1[i], sizeof(float)) == 0 && std::memcmp(&sec0[i], &sec1[i], sizeof(float)) == 0)
          continue;
        ++bounded;
        const float* x = &c.x[i * s.d];
        double xx = 0;
        for (size_t j = 0; j < s.d; ++j) xx += static_cast<double>(x[j]) * x[j];
        double own = 0, others = std::numeric_limits<double>::infinity();
        for (size_t k = 0; k < s.ksub; ++k) {
          double v = 0;
          for (size_t j = 0; j < s.d; ++j) {
            const double t = static_cast<double>(x[j]) - c.codebook[k * s.d + j];
            v += t * t;
          }
          v -= xx;
          if (k == idx0[i]) {
            own = v;
          } else {
            others = std::min(others, v);
          }
        }
        const double tol = 1e-12 * (xx + std::fabs(own) + 1e-300);
        ASSERT_GE(static_cast<double>(best1[i]), own - tol) << "point " << i;
        ASSERT_LE(static_cast<double>(sec1[i]), others + tol) << "point " << i;
      }
      if (c.name == "gaussian" && s.ksub == 256) {
        EXPECT_GT(bounded, s.n / 2) << "the int16 proposals prove few labels";
      }
    }
  }
}

}  // namespace
}  // namespace lancer::simd
