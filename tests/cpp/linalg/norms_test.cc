#include "linalg/norms.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/executor.h"
#include "linalg/gaussian.h"

namespace lancer::linalg {
namespace {

// The documented order, written out: element j into lane j % 16, lanes folded
// pairwise (l += l + 8, then + 4, + 2, + 1).
float reference_dot(const float* a, const float* b, size_t d) {
  float lane[16] = {};
  for (size_t j = 0; j < d; ++j) {
    const float p = a[j] * b[j];
    lane[j % 16] = lane[j % 16] + p;
  }
  for (size_t w = 8; w >= 1; w /= 2)
    for (size_t l = 0; l < w; ++l) lane[l] = lane[l] + lane[l + w];
  return lane[0];
}

TEST(Norms, PortableSumsFollowTheirDocumentedOrder) {
  for (size_t d : {1, 7, 16, 17, 100, 1024}) {
    auto a = gaussian(d, 1), b = gaussian(d, 2);
    const float got = portable_dot(a.data(), b.data(), d);
    const float want = reference_dot(a.data(), b.data(), d);
    EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0) << "d=" << d;
    std::vector<float> diff(d);
    for (size_t j = 0; j < d; ++j) diff[j] = a[j] - b[j];
    const float l2 = portable_l2_sqr(a.data(), b.data(), d);
    const float l2_want = reference_dot(diff.data(), diff.data(), d);
    EXPECT_EQ(std::memcmp(&l2, &l2_want, sizeof l2), 0) << "d=" << d;
  }
}

TEST(Norms, NormalizeRows) {
  std::vector<float> x = {3, 4, 0, 0, 1, 0};
  core::InlineExecutor ex;
  normalize_rows({x.data(), 3, 2}, ex);
  EXPECT_FLOAT_EQ(x[0], 0.6f);
  EXPECT_FLOAT_EQ(x[1], 0.8f);
  EXPECT_EQ(x[2], 0.0f);  // zero rows stay zero
  EXPECT_NEAR(portable_dot(x.data(), x.data(), 2), 1.0f, 1e-6);
}

}  // namespace
}  // namespace lancer::linalg
