#include "quant/sq_codec.h"
#include "train/codec_trainers.h"
#include "train/sq.h"

namespace lancer::train {

Result<std::shared_ptr<const quant::Codec>> train_sq_codec(const CodecTrainParams&, MatrixView<float> sample, size_t,
                                                           const KMeansModel&, core::Executor& pool,
                                                           core::Collective*) {
  LANCER_ASSIGN_OR_RETURN(auto sq, train_sq(MatrixView<const float>(sample), pool));
  return quant::make_sq_codec(std::move(sq));
}

}  // namespace lancer::train
