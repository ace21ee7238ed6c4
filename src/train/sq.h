// Scalar quantisation training, exactly Lance's bounds (lance-format.md 5.6):
// one global [start, end] = min / max over every component of the training
// sample (f32 values widened to f64; NaN and infinities are skipped). The
// model and encoder are quant::SqModel (quant/sq_model.h). The caller
// normalises for cosine.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "quant/sq_model.h"

namespace lancer::train {

using linalg::MatrixView;

using quant::SqModel;
using quant::sq_encode;
using quant::sq_from_bounds;

// Errors: InvalidArgument for an empty sample or one with no finite value.
Result<std::shared_ptr<const SqModel>> train_sq(MatrixView<const float> sample, core::Executor& executor);

}  // namespace lancer::train
