// Phase 1's last step: the quantizer's model from the training sample,
// returned as its codec (quant/codec.h), by the trainer registered for the
// kind (train/codec_trainers.h). FLAT needs nothing; SQ takes the sample's
// bounds; PQ trains codebooks on residuals or raw vectors as
// quant::uses_residual says (or takes a supplied codebook), rounded to half
// precision for float16 columns. Deterministic for any executor; distributed
// as train_pq is.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "quant/codec.h"
#include "train/kmeans.h"

namespace lancer::train {

struct CodecTrainParams {
  quant::QuantizerKind kind = quant::QuantizerKind::kFlat;
  quant::Metric metric = quant::Metric::kL2;
  bool half = false;  // the column holds float16: models are rounded to it
  int num_sub_vectors = 0;
  int num_bits = 8;
  int max_iters = 50;
  uint64_t seed = 0;                       // the build's seed (PQ derives its own)
  std::span<const float> supplied_codebook;  // PQ: [m][2^nbits][dim/m]; skips training
  std::string supplied_rq_model;             // RQ: Lance's RabitQuantizationMetadata JSON; else signs from seed
  // With several ranks: `sample` is the same memory on every rank (lancer/shared_memory.h),
  // so a rank writes only its own rows of it, and the ranks meet before reading others'.
  bool shared_sample = false;
};

// sample: the (cosine-normalised) training sample; PQ trains on its first
// min(rows, pq_rows) rows and overwrites them with residuals.
Result<std::shared_ptr<const quant::Codec>> train_codec(const CodecTrainParams& params, MatrixView<float> sample,
                                                        size_t pq_rows, const KMeansModel& kmeans,
                                                        core::Executor& executor, core::Collective* collective);

}  // namespace lancer::train
