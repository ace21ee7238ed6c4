#include "train/sq.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "simd/sq.h"

namespace lancer::train {

Result<std::shared_ptr<const SqModel>> train_sq(MatrixView<const float> sample, core::Executor& executor) {
  if (sample.rows == 0 || sample.dim == 0) return Status::InvalidArgument("SQ: the training sample is empty");
  constexpr size_t kBlock = 16384;
  const size_t blocks = (sample.rows + kBlock - 1) / kBlock;
  std::vector<float> lo(blocks, std::numeric_limits<float>::infinity());
  std::vector<float> hi(blocks, -std::numeric_limits<float>::infinity());
  executor.parallel_for(blocks, 1, [&](size_t b0, size_t b1) {
    for (size_t b = b0; b < b1; ++b) {
      const size_t r0 = b * kBlock, r1 = std::min(sample.rows, r0 + kBlock);
      const float* p = sample.row(r0);
      float mn = lo[b], mx = hi[b];
      for (size_t i = 0, e = (r1 - r0) * sample.dim; i < e; ++i) {
        const float v = p[i];
        if (!std::isfinite(v)) continue;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
      }
      lo[b] = mn;
      hi[b] = mx;
    }
  });
  float mn = std::numeric_limits<float>::infinity(), mx = -mn;
  for (size_t b = 0; b < blocks; ++b) {
    mn = std::min(mn, lo[b]);
    mx = std::max(mx, hi[b]);
  }
  if (mn > mx) return Status::InvalidArgument("SQ: the training sample holds no finite value");
  return sq_from_bounds(static_cast<int>(sample.dim), static_cast<double>(mn), static_cast<double>(mx));
}

}  // namespace lancer::train
