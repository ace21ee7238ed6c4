// The 8-bit scalar-quantisation model and its encoder, with exactly Lance's
// bounds and codes (lance-format.md 5.6): one global [start, end], and per
// component code = saturate_u8(trunc((double(v) - start) * 255.0 / (end - start))),
// NaN -> 0, all codes 0 when start == end. Training (the bounds of a sample)
// lives in train/sq.h; the codec in quant/sq_codec.h. SqModel is immutable and
// shared as shared_ptr<const SqModel>.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"

namespace lancer::quant {

using linalg::MatrixView;

struct SqModel {
  int dim = 0;
  int num_bits = 8;
  double start = 0;
  double end = 0;
};

// InvalidArgument unless dim >= 1 and start <= end, both finite.
Result<std::shared_ptr<const SqModel>> sq_from_bounds(int dim, double start, double end);

// codes: x.rows * dim bytes.
Status sq_encode(const SqModel& model, MatrixView<const float> x, std::span<uint8_t> codes, core::Executor& executor);

}  // namespace lancer::quant
