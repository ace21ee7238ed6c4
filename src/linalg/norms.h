// Dot products, squared distances and row normalisation (n x d row-major).
// These shape the index (cosine rows, k-means++ draws), so they are compiled
// once, without SIMD dispatch or FP contraction: every CPU computes the same
// bits (docs/decisions/same-bytes-any-hardware.md). Rows are independent, so
// the thread count does not matter either.
#pragma once

#include <cstddef>
#include <span>

#include "core/executor.h"
#include "linalg/matrix.h"

namespace lancer::linalg {

// sum_j a_j * b_j as 16 interleaved partial sums (element j into lane j % 16)
// folded pairwise: plain IEEE multiplies and adds in one fixed order.
float portable_dot(const float* a, const float* b, size_t d);
// The same order over (a_j - b_j)^2.
float portable_l2_sqr(const float* a, const float* b, size_t d);

// x_i /= |x_i| in place, exactly as Lance normalises for cosine (lance-linalg's
// normalize_fsl: the squares summed in dimension order, then each value divided
// by the norm), so that the normalised vectors, and the RQ codes that flip on
// their last bit, are Lance's; zero rows stay zero.
void normalize_rows(MatrixView<float> x, core::Executor& executor);

}  // namespace lancer::linalg
