// One trainer per quantizer: the training sample in, the quantizer's codec
// out (quant/codec.h). train_codec (train/train_codec.h) picks the one for
// params.kind from its table; each is defined in <name>_codec_trainer.cc.
// A trainer is stateless; thread-safety is the executor's and collective's.
#pragma once

#include "train/train_codec.h"

namespace lancer::train {

using CodecTrainer = Result<std::shared_ptr<const quant::Codec>> (*)(const CodecTrainParams& params,
                                                                     MatrixView<float> sample, size_t pq_rows,
                                                                     const KMeansModel& kmeans,
                                                                     core::Executor& executor,
                                                                     core::Collective* collective);

// The trainer registered for `kind` (train_codec.cc's table), or null.
CodecTrainer codec_trainer(quant::QuantizerKind kind);

// FLAT: nothing to train.
Result<std::shared_ptr<const quant::Codec>> train_flat_codec(const CodecTrainParams& params, MatrixView<float> sample,
                                                             size_t pq_rows, const KMeansModel& kmeans,
                                                             core::Executor& executor, core::Collective* collective);
// SQ: the sample's bounds.
Result<std::shared_ptr<const quant::Codec>> train_sq_codec(const CodecTrainParams& params, MatrixView<float> sample,
                                                           size_t pq_rows, const KMeansModel& kmeans,
                                                           core::Executor& executor, core::Collective* collective);
// PQ: codebooks on the first pq_rows rows (residuals overwrite them) or the supplied codebook.
Result<std::shared_ptr<const quant::Codec>> train_pq_codec(const CodecTrainParams& params, MatrixView<float> sample,
                                                           size_t pq_rows, const KMeansModel& kmeans,
                                                           core::Executor& executor, core::Collective* collective);

// RQ: the rotation signs drawn from the build's seed, or the supplied model (params.supplied_rq_model).
Result<std::shared_ptr<const quant::Codec>> train_rq_codec(const CodecTrainParams& params, MatrixView<float> sample,
                                                           size_t pq_rows, const KMeansModel& kmeans,
                                                           core::Executor& executor, core::Collective* collective);

}  // namespace lancer::train
