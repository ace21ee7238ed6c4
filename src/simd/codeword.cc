// The level-independent halves of codeword search: transposed block packing,
// the -2-scaled codewords with their norms, packed point norms (codeword.h).
// Compiled once, without -m flags or FP contraction: the same bits everywhere.
#include "simd/codeword.h"

#include <cstring>

namespace lancer::simd {

void pack_blocks(const float* x, size_t n, size_t stride, size_t dsub, float* xt) {
  const size_t w = kCodewordBlock;
  const size_t blocks = (n + w - 1) / w;
  for (size_t b = 0; b < blocks; ++b) {
    float* out = xt + b * dsub * w;
    const size_t rows = n - b * w < w ? n - b * w : w;
    if (rows < w) std::memset(out, 0, dsub * w * sizeof(float));
    for (size_t lane = 0; lane < rows; ++lane) {
      const float* r = x + (b * w + lane) * stride;
      for (size_t j = 0; j < dsub; ++j) out[j * w + lane] = r[j];
    }
  }
}

void packed_norms(const float* xt, size_t num_blocks, size_t dsub, float* out) {
  const size_t w = kCodewordBlock;
  for (size_t b = 0; b < num_blocks; ++b) {
    float acc[kCodewordBlock] = {};
    const float* block = xt + b * dsub * w;
    for (size_t j = 0; j < dsub; ++j)
      for (size_t lane = 0; lane < w; ++lane) acc[lane] += block[j * w + lane] * block[j * w + lane];
    std::memcpy(out + b * w, acc, sizeof acc);
  }
}

void prepare_codewords(const float* codebook, size_t ksub, size_t dsub, float* cb2, float* cnorm) {
  for (size_t k = 0; k < ksub; ++k) {
    float s = 0;
    for (size_t j = 0; j < dsub; ++j) {
      const float c = codebook[k * dsub + j];
      cb2[k * dsub + j] = -2.0f * c;
      s += c * c;
    }
    cnorm[k] = s;
  }
}

}  // namespace lancer::simd
