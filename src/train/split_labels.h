// The nearest centroid of every row, the rows split over the ranks of a
// distributed job: each rank labels a contiguous run of rows and every rank
// receives all labels (4 bytes a row). A row's label depends on that row and
// the centroids only (linalg/nearest.h), so the labels are one process's.
#pragma once

#include <span>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "simd/metric.h"

namespace lancer::train {

// As linalg::nearest_centroids without distances; collective null = one process.
Status nearest_labels_split(linalg::MatrixView<const float> x, linalg::MatrixView<const float> centroids,
                            simd::Metric metric, std::span<uint32_t> labels, core::Executor& executor,
                            core::Collective* collective);

}  // namespace lancer::train
