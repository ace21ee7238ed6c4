#include "linalg/norms.h"

#include <cmath>

namespace lancer::linalg {
namespace {

constexpr size_t kLanes = 16;

template <typename Term>
float lane_sum(size_t d, Term term) {
  float acc[kLanes] = {};
  size_t j = 0;
  for (; j + kLanes <= d; j += kLanes)
    for (size_t l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  for (size_t l = 0; j + l < d; ++l) acc[l] += term(j + l);
  for (size_t w = kLanes / 2; w >= 1; w /= 2)
    for (size_t l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

}  // namespace

float portable_dot(const float* a, const float* b, size_t d) {
  return lane_sum(d, [&](size_t j) { return a[j] * b[j]; });
}

float portable_l2_sqr(const float* a, const float* b, size_t d) {
  return lane_sum(d, [&](size_t j) {
    const float t = a[j] - b[j];
    return t * t;
  });
}

void normalize_rows(MatrixView<float> x, core::Executor& executor) {
  executor.parallel_for(x.rows, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      float* r = x.row(i);
      float sum = 0.0f;
      for (size_t j = 0; j < x.dim; ++j) sum += r[j] * r[j];
      const float n = std::sqrt(sum);
      if (n > 0) {
        for (size_t j = 0; j < x.dim; ++j) r[j] /= n;
      }
    }
  });
}

}  // namespace lancer::linalg
