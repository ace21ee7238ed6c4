// Reorders the rows of a matrix in place on several threads, without a second
// copy of the matrix: the training sample is the largest thing a build holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/executor.h"

namespace lancer::linalg {

// Row i of data (rows x dim floats, rows = order.size()) becomes the old row
// order[i]; order must be a permutation of [0, rows). The result is the same
// for any thread count: every row is copied, never computed. Extra memory: one
// index per row and a few rows per thread.
void gather_rows_in_place(float* data, size_t dim, std::span<const uint32_t> order, core::Executor& executor);

}  // namespace lancer::linalg
