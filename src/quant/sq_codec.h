// IVF_SQ: 8-bit scalar codes (quant/sq_model.h), column "__sq_code", dim
// bytes per row; no residuals. Scored as Lance does: l2 / cosine compare the
// quantized query with the codes in code space, dot reconstructs the vector.
// Immutable.
#pragma once

#include <memory>

#include "quant/codec.h"
#include "quant/registry.h"
#include "quant/sq_model.h"

namespace lancer::quant {

std::shared_ptr<const Codec> make_sq_codec(std::shared_ptr<const SqModel> model);
// The model of an SQ codec, or null for another kind.
const SqModel* sq_model(const Codec& codec);
const QuantizerEntry& sq_quantizer();

}  // namespace lancer::quant
