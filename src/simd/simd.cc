// Level-independent pieces of the SIMD layer: metric names, block packing,
// and the SQ edge cases handled before a kernel runs.
#include <cstring>

#include "simd/codeword.h"
#include "simd/kernels.h"
#include "simd/metric.h"
#include "simd/sq.h"

namespace lancer::simd {

const char* metric_name(Metric metric) {
  switch (metric) {
    case Metric::kL2: return "l2";
    case Metric::kCosine: return "cosine";
    case Metric::kDot: return "dot";
  }
  return "unknown";
}

std::optional<Metric> parse_metric(std::string_view name) {
  if (name == "l2" || name == "euclidean") return Metric::kL2;
  if (name == "cosine") return Metric::kCosine;
  if (name == "dot") return Metric::kDot;
  return std::nullopt;
}

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

void sq_encode(const float* x, size_t n, double start, double end, uint8_t* out, SimdLevel level) {
  const double range = end - start;
  if (range == 0.0) {
    std::memset(out, 0, n);
    return;
  }
  kernels_for(level).sq_encode(x, n, start, range, out);
}

}  // namespace lancer::simd
