// IVF_PQ: product-quantisation codes (quant/pq_model.h), column "__pq_code",
// code_size bytes per row, stored transposed per partition (byte b of row i at
// b * n + i; Lance's legacy files keep rows whole). Residuals x - centroid for
// l2 / cosine, x for dot. Scored by ADC over the simd/pq_table.h tables.
// Immutable.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "quant/codec.h"
#include "quant/pq_model.h"
#include "quant/registry.h"

namespace lancer::quant {

std::shared_ptr<const Codec> make_pq_codec(std::shared_ptr<const PqModel> model, bool transposed = true);
// A codebook read from a file (V3 or legacy): NotSupported for other than 4 or
// 8 bits, Corruption (naming `where`) for a shape that does not fit `dim`.
Result<std::shared_ptr<const Codec>> read_pq_codec(std::vector<float> codebook, uint32_t dim, int num_sub_vectors,
                                                   int num_bits, bool transposed, const std::string& where);
// The model of a PQ codec, or null for another kind.
const PqModel* pq_model(const Codec& codec);
const QuantizerEntry& pq_quantizer();

}  // namespace lancer::quant
