// Lloyd's k-means for short vectors (PQ sub-spaces: 1 to ~64 components),
// single-threaded so that callers parallelise over sub-spaces. Exact Lloyd
// iterations, accelerated with Hamerly's bounds (a point is re-searched only
// when its bounds say its nearest centroid may have changed) and SIMD
// nearest-codeword search over transposed blocks of 16 points.
// Deterministic: depends only on the inputs and the seed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lancer::train {

struct SmallKMeansResult {
  double loss = 0;      // sum of squared distances at the last assignment
  int iterations = 0;   // Lloyd iterations run
  double searched = 0;  // fraction of (point, iteration) pairs fully searched
};

// x: n rows of `dsub` floats, `stride` floats apart; n >= k >= 1.
// Random init (k distinct rows), empty clusters split from the largest.
// Writes centroids [k][dsub].
SmallKMeansResult small_kmeans(const float* x, size_t n, size_t stride, size_t dsub, size_t k, int max_iters,
                               double tolerance, uint64_t seed, float* centroids);

}  // namespace lancer::train
