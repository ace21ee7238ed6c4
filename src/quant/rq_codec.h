// IVF_RQ: RaBitQ codes of the residual v - c (quant/rq_model.h) for every
// metric. auxiliary.idx columns, in Lance's order: `_rabit_codes`
// fsl<uint8>[dim/8], `__add_factors`, `__scale_factors`, `__error_factors`
// (float32), and for num_bits > 1 `__blocked_ex_codes`
// fsl<uint8>[next_multiple_of(dim, 64) * (num_bits - 1) / 8], `__add_factors_ex`,
// `__scale_factors_ex`; all nullable, rows row-major ("packed": false; Lance
// packs at load). Scored as Lance 14 does with the raw-query estimator (format
// notes 5.3). Lance-built files ("packed": true: codes in the FastScan layout
// per partition) are read and searched too. Immutable.
#pragma once

#include <memory>

#include "quant/codec.h"
#include "quant/registry.h"
#include "quant/rq_model.h"

namespace lancer::quant {

// half: the indexed column holds float16 (residuals are rounded to half, as Lance subtracts in float16).
std::shared_ptr<const Codec> make_rq_codec(std::shared_ptr<const RqModel> model, bool half = false);
// The model of an RQ codec, or null for another kind.
const RqModel* rq_model(const Codec& codec);
const QuantizerEntry& rq_quantizer();

}  // namespace lancer::quant
