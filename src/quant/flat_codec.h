// IVF_FLAT: the (cosine-normalised) vectors themselves, in the column's
// element type, column "flat"; scored by exact distance. Immutable.
#pragma once

#include <memory>

#include "quant/codec.h"
#include "quant/registry.h"

namespace lancer::quant {

std::shared_ptr<const Codec> make_flat_codec(uint32_t dim, bool half);
const QuantizerEntry& flat_quantizer();

}  // namespace lancer::quant
