#include "quant/sq_model.h"

#include <cmath>
#include <string>

#include "simd/sq.h"

namespace lancer::quant {

Result<std::shared_ptr<const SqModel>> sq_from_bounds(int dim, double start, double end) {
  if (dim < 1) return Status::InvalidArgument("SQ: dimension must be at least 1");
  if (!std::isfinite(start) || !std::isfinite(end) || start > end)
    return Status::InvalidArgument("SQ: bounds must be finite with start <= end, got [" + std::to_string(start) + ", " +
                                   std::to_string(end) + "]");
  auto model = std::make_shared<SqModel>();
  model->dim = dim;
  model->start = start;
  model->end = end;
  return std::shared_ptr<const SqModel>(std::move(model));
}

Status sq_encode(const SqModel& model, MatrixView<const float> x, std::span<uint8_t> codes, core::Executor& executor) {
  if (x.dim != static_cast<size_t>(model.dim))
    return Status::InvalidArgument("SQ encode: vectors have dimension " + std::to_string(x.dim) + ", the model " +
                                   std::to_string(model.dim));
  if (codes.size() != x.size()) return Status::InvalidArgument("SQ encode: codes must hold rows * dim bytes");
  const size_t total = x.size();
  constexpr size_t kChunk = 1 << 16;
  executor.parallel_for((total + kChunk - 1) / kChunk, 1, [&](size_t b0, size_t b1) {
    const size_t e0 = b0 * kChunk, e1 = std::min(total, b1 * kChunk);
    simd::sq_encode(x.data + e0, e1 - e0, model.start, model.end, codes.data() + e0);
  });
  return Status::OK();
}

}  // namespace lancer::quant
