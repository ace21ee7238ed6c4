// Fused block distance + arg-min: the IVF assignment and k-means inner loop.
// Rows of x are cut into fixed blocks (their size depends only on the number
// of centroids, see nearest_row_block); for each block one
// single-threaded SGEMM per chunk of centroids computes the inner products and
// a SIMD pass keeps the best centroid while the block is still in cache. The
// n x k distance matrix is never materialised. Blocks run on the executor and
// never depend on the thread count, so results are identical for any executor.
//
// Scores (ties go to the lowest centroid index):
//   kL2, kCosine: |x - c|^2 (the caller L2-normalises x for cosine)
//   kDot:         1 - x.c   (largest inner product wins, as Lance ranks)
#pragma once

#include <cstdint>
#include <span>

#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "simd/metric.h"

namespace lancer::linalg {

inline constexpr size_t kNearestColBlock = 1024;
// Rows per block: the block's scores (rows x min(k, kNearestColBlock) floats)
// stay within about 2 MiB, with 256 to 2048 rows.
inline size_t nearest_row_block(size_t k) {
  const size_t cols = k < kNearestColBlock ? k : kNearestColBlock;
  size_t rows = (size_t{1} << 19) / (cols ? cols : 1);
  return rows < 256 ? 256 : rows > 2048 ? 2048 : rows;
}

// labels[i] = the nearest centroid of row i; distances[i] (if not empty) its
// score (l2 clamped at 0). centroid_norms: |c|^2 per centroid (l2 / cosine);
// computed here when empty. x_norms: |x_i|^2, only read for l2 distances;
// computed here when empty. Errors: InvalidArgument on shape mismatch.
Status nearest_centroids(MatrixView<const float> x, MatrixView<const float> centroids,
                         std::span<const float> centroid_norms, simd::Metric metric, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor, std::span<const float> x_norms = {});

}  // namespace lancer::linalg
