// The level-independent half of codeword_bf16.h: the shape test and the
// codebook's bfloat16 form with its error bound (plain C++, no SIMD).
#include "simd/codeword_bf16.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "simd/bf16_scores.h"

namespace lancer::simd {
namespace {

constexpr double kU = 0x1p-24;      // float32 unit roundoff
constexpr double kUb = 0x1p-8;      // bfloat16 unit roundoff
constexpr double kLimit = 0x1p60;   // largest |c'|, |c| (and, per block, |x'|, |x|) the bound covers
constexpr double kTiny = 0x1p-110;  // flushed subnormals (vdpbf16ps: DAZ, FTZ), generously

double gamma(size_t n) {
  const double nu = static_cast<double>(n) * kU;
  return nu / (1 - nu);
}

// Round to nearest even; finite inputs below 2^61 in magnitude do not overflow.
uint32_t to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  u += 0x7fffu + ((u >> 16) & 1u);
  return u >> 16;
}

// A float at least v (v >= 0, finite).
float round_up(double v) {
  return static_cast<float>(v * (1 + 0x1p-20));
}

}  // namespace

bool codeword_bf16_worthwhile(size_t ksub, size_t dsub) {
  return dsub == 8 && codeword_bf16_supported(ksub, dsub);
}

bool codeword_bf16_supported(size_t ksub, size_t dsub) {
  return (dsub == 8 || dsub == 16) && ksub >= 16 && ksub <= 256 && ksub % 16 == 0 && bf16_scores_available();
}

// The bound (same reasoning as linalg::Bf16Proposal, specialised to one
// uniform margin per point):
// - each factor of a bfloat16 product is rounded twice (float after the
//   shift, then bfloat16): relative error delta = ub + u + ub u, so a product
//   x'_j (-2 c'_j) is off by (2 delta + delta^2) |2 x'_j c'_j|; the float sums
//   (any order, cn' first) add gamma_d (|c'|^2 + (1 + delta)^2 sum |2 x'_j c'_j|);
//   cn' is |fl(c - shift)|^2 rounded to float (3u |c'|^2); sum |x'_j c'_j| <= |x'| |c'|;
// - the canonical v = cnorm + sum fma(x_j, -2 c_j) is off by at most
//   gamma_{d+1} (2 |c|^2 + 2 |x| |c|), cnorm's rounding included;
// - flushed subnormals: kTiny terms, far above their true size.
// So M = 2 rho |x'| Cp + 2 gc |x| C + (gamma_d + 4u) Cp^2 + 2 gc C^2 + tiny,
// with Cp = max |c'|, C = max |c|, all enlarged by 2^-10 for the float
// arithmetic that evaluates M.
void prepare_codewords_bf16(const float* codebook, size_t ksub, size_t dsub, Bf16Codebook* out) {
  out->ksub = ksub;
  out->dsub = dsub;
  out->shift.assign(dsub, 0.0f);
  out->pairs.assign(ksub * (dsub / 2), 0u);
  out->cn.assign(ksub, 0.0f);
  std::vector<double> mean(dsub, 0.0);
  bool finite = true;
  for (size_t k = 0; k < ksub; ++k) {
    for (size_t j = 0; j < dsub; ++j) {
      mean[j] += codebook[k * dsub + j];
      finite &= std::isfinite(codebook[k * dsub + j]);
    }
  }
  out->usable = false;
  if (!finite) return;
  for (size_t j = 0; j < dsub; ++j) out->shift[j] = static_cast<float>(mean[j] / static_cast<double>(ksub));
  double cp2 = 0, c2 = 0;
  for (size_t k = 0; k < ksub; ++k) {
    const float* c = codebook + k * dsub;
    double sp = 0, s = 0;
    for (size_t j = 0; j < dsub; ++j) {
      const float t = c[j] - out->shift[j];  // the float x' - c' is formed from, as in the kernel
      sp += static_cast<double>(t) * t;
      s += static_cast<double>(c[j]) * c[j];
    }
    cp2 = std::max(cp2, sp);
    c2 = std::max(c2, s);
    out->cn[k] = static_cast<float>(sp);
    for (size_t j = 0; j < dsub; j += 2) {
      const float lo = -2.0f * (c[j] - out->shift[j]), hi = -2.0f * (c[j + 1] - out->shift[j + 1]);
      out->pairs[k * (dsub / 2) + j / 2] = to_bf16(lo) | (to_bf16(hi) << 16);
    }
  }
  const double cp = std::sqrt(cp2), cc = std::sqrt(c2);
  if (!(cp < kLimit && cc < kLimit)) return;
  const double delta = kUb + kU + kUb * kU;
  const double rho = 2 * delta + delta * delta + gamma(dsub) * (1 + delta) * (1 + delta) + 8 * kU;
  const double gc = gamma(dsub + 1);
  const double slack = 1 + 0x1p-10;
  const double tiny = kTiny * static_cast<double>(dsub + 2);
  out->alpha = round_up((2 * rho * cp + tiny) * slack);
  out->beta = round_up((2 * gc * cc + tiny) * slack);
  out->eta = round_up(((gamma(dsub) + 4 * kU) * cp2 + 2 * gc * c2 + tiny * (1 + 2 * cp + cc)) * slack);
  out->usable = true;
}

}  // namespace lancer::simd
