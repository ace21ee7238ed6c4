// Product quantisation training: codebooks from a sample (quant::PqModel,
// layout in quant/pq_model.h). The caller passes residuals or raw vectors as
// quant::uses_residual says (Lance's residual rule).
// Training is deterministic for any executor (one task per sub-vector).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "quant/pq_model.h"

namespace lancer::train {

using linalg::MatrixView;

struct PqParams {
  int num_sub_vectors = 0;
  int num_bits = 8;         // 8 or 4
  int max_iters = 50;       // Lloyd iterations per sub-quantizer
  double tolerance = 1e-4;  // Lance's relative loss rule; 0 runs max_iters
  uint64_t seed = 0;
};

// The model and its encoder live in quant/ (shared with search); training returns them.
using quant::PqModel;
using quant::PqEncodeMethod;
using quant::pq_decode;
using quant::pq_encode;
using quant::pq_from_codebook;

// Errors (InvalidArgument): dim % num_sub_vectors != 0, num_bits not 4 or 8,
// odd num_sub_vectors with 4 bits, fewer rows than 2^num_bits, non-finite input.
// Distributed (collective not null): every rank passes the same data and
// params; rank r trains the sub-quantizers core::owned_range(m, r, size) and
// all ranks end with the same model, bit-identical to one process's.
Result<std::shared_ptr<const PqModel>> train_pq(MatrixView<const float> data, const PqParams& params,
                                                core::Executor& executor, core::Collective* collective = nullptr);

}  // namespace lancer::train
