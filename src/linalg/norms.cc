#include "linalg/norms.h"

#include <cmath>

#include "simd/distance.h"

namespace lancer::linalg {

void row_norms_sqr(MatrixView<const float> x, std::span<float> out, core::Executor& executor) {
  executor.parallel_for(x.rows, 4096,
                        [&](size_t b, size_t e) { simd::norm_sqr_batch(x.row(b), e - b, x.dim, out.data() + b); });
}

void normalize_rows(MatrixView<float> x, core::Executor& executor) {
  executor.parallel_for(x.rows, 4096, [&](size_t b, size_t e) {
    const auto& k = simd::best_kernels();
    for (size_t i = b; i < e; ++i) {
      float* r = x.row(i);
      const float n = std::sqrt(k.norm_sqr(r, x.dim));
      if (n > 0) {
        for (size_t j = 0; j < x.dim; ++j) r[j] /= n;
      }
    }
  });
}

}  // namespace lancer::linalg
