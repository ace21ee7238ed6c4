#include "quant/flat_codec.h"
#include "train/codec_trainers.h"

namespace lancer::train {

Result<std::shared_ptr<const quant::Codec>> train_flat_codec(const CodecTrainParams& p, MatrixView<float>, size_t,
                                                             const KMeansModel& kmeans, core::Executor&,
                                                             core::Collective*) {
  return quant::make_flat_codec(static_cast<uint32_t>(kmeans.dim), p.half);
}

}  // namespace lancer::train
