// Flat Lloyd k-means, internal to train/ (the public API is train/kmeans.h):
// the exact fixed-point centroid sums and the Lloyd iterations that
// train_kmeans and the two-level training (kmeans_two_level.h) both run.
// lloyd() is a pure function of its inputs: the same centroids for any
// executor, thread count or number of ranks. data: n x d row-major f32,
// borrowed for the call; centroids: k x d, updated in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "train/kmeans.h"

namespace lancer::train {

// Centroid sums are exact integers: every value is rounded to a multiple of
// 2^-q, q chosen from the sample's largest magnitude M (M < 2^e <= 2M) and row
// count n so that each term is below 2^50 (add_rows_fixed's limit) and a sum of
// n terms below 2^62. Integer addition is associative, so the sums, and the
// centroids, do not depend on how rows are split over threads or ranks, and
// partial sums may be combined in any order. The step 2^(e - bits) is at most
// 2^-37 M for n < 2^24 (2^-44 M at n = 2^16): below the f32 spacing of any
// value above 2^-13 M. Subsets of the sample keep the scale.
struct FixedPoint {
  double scale = 1;      // 2^q
  double inv_scale = 1;  // 2^-q
};

FixedPoint fixed_point_for(float max_abs, size_t n);

struct LloydResult {
  double loss = 0;
  int iterations = 0;
};

struct LloydParams {
  Metric metric = Metric::kL2;
  int max_iters = 1;
  double tolerance = 0;
  FixedPoint fixed;
};

// Lloyd iterations from the given centroids (updated in place). With a
// collective, each rank assigns and sums a contiguous run of the assignment's
// fixed row blocks (so every block is computed exactly as in one process) and
// the ranks combine their parts; everything else runs identically everywhere.
// final_labels (optional) receives every row's label from the last assignment.
// The rows [first, end) of `n` that lloyd() with `k` centroids reads on this rank (its run
// of whole row blocks; all rows in one process).
std::pair<size_t, size_t> lloyd_rows(size_t n, size_t k, core::Collective* collective);

Result<LloydResult> lloyd(MatrixView<const float> data, size_t k, std::vector<float>& centroids, const LloydParams& lp,
                          core::Executor& executor, core::Collective* collective, std::vector<uint32_t>* final_labels);

}  // namespace lancer::train
