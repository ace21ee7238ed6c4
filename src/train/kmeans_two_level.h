// Two-level (hierarchical) k-means, internal to train/ (the public API is
// train/kmeans.h; docs/decisions/hierarchical-kmeans.md): a top level of
// p.hierarchical_fanout groups, each group's share of the k centroids trained
// on its own rows (groups in parallel, split by group over ranks), then
// optional refinement over all rows. Same centroids for any executor, thread
// count or number of ranks. data: n x d row-major f32, borrowed for the call.
#pragma once

#include <vector>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "train/kmeans.h"
#include "train/kmeans_lloyd.h"

namespace lancer::train {

// Returns the k x d centroids; *loss and *iterations as in KMeansModel.
Result<std::vector<float>> train_hierarchical(MatrixView<const float> data, const KMeansParams& p,
                                              const FixedPoint& fixed, core::Executor& executor,
                                              core::Collective* collective, double* loss, int* iterations);

}  // namespace lancer::train
