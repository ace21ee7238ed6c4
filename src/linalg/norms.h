// Row norms and normalisation over the executor (n x d row-major).
// Deterministic: each row is computed independently.
#pragma once

#include <span>

#include "core/executor.h"
#include "linalg/matrix.h"

namespace lancer::linalg {

// out[i] = |x_i|^2
void row_norms_sqr(MatrixView<const float> x, std::span<float> out, core::Executor& executor);

// x_i /= |x_i| in place (as Lance normalises for cosine); zero rows stay zero.
void normalize_rows(MatrixView<float> x, core::Executor& executor);

}  // namespace lancer::linalg
