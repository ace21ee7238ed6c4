// The level-independent half of codeword_i8.h (plain C++).
#include "simd/codeword_i8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "simd/level.h"

namespace lancer::simd {

bool codeword_i8_supported(size_t ksub, size_t dsub) {
  static const bool available = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni")) return false;
#else
    return false;
#endif
    if (best_simd_level() != SimdLevel::kAvx512) return false;
    const char* env = std::getenv("LANCER_INT8");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return (dsub == 8 || dsub == 16) && ksub >= 16 && ksub <= 256 && ksub % 16 == 0 && available;
}

void prepare_codewords_i8(const float* codebook, size_t ksub, size_t dsub, I8Codebook* out) {
  out->ksub = ksub;
  out->dsub = dsub;
  out->usable = false;
  out->shift.assign(dsub, 0.0f);
  out->cn.assign(ksub, 0.0f);
  std::vector<double> mean(dsub, 0.0);
  for (size_t k = 0; k < ksub; ++k) {
    for (size_t j = 0; j < dsub; ++j) {
      if (!std::isfinite(codebook[k * dsub + j])) return;
      mean[j] += codebook[k * dsub + j];
    }
  }
  for (size_t j = 0; j < dsub; ++j) out->shift[j] = static_cast<float>(mean[j] / static_cast<double>(ksub));
  std::vector<float> cs(ksub * dsub);
  double amax = 0, cp2 = 0, c2 = 0;
  for (size_t k = 0; k < ksub; ++k) {
    double sp = 0, s = 0;
    for (size_t j = 0; j < dsub; ++j) {
      const float c = codebook[k * dsub + j], t = c - out->shift[j];  // the kernel's float subtraction
      cs[k * dsub + j] = t;
      amax = std::max(amax, std::fabs(static_cast<double>(t)));
      sp += static_cast<double>(t) * t;
      s += static_cast<double>(c) * c;
    }
    out->cn[k] = static_cast<float>(sp);
    cp2 = std::max(cp2, sp);
    c2 = std::max(c2, s);
  }
  if (!(amax < 0x1p60 && c2 < 0x1p120)) return;
  out->quads.assign(ksub * (dsub / 4), 0u);
  out->qsum.assign(ksub, 0);
  out->pairs.assign(ksub * (dsub / 2), 0u);
  for (const int levels : {127, 2047}) {
    CodewordLevels& lv = levels == 127 ? out->q8 : out->q16;
    lv.levels = static_cast<float>(levels);
    const float inv = amax > 0 ? static_cast<float>(levels / amax) : 1.0f;
    if (!std::isfinite(inv) || inv <= 0) return;
    lv.inv_scale = inv;
    // q = round(t inv) to nearest even by the 1.5 * 2^23 trick (|t inv| <= levels + 1),
    // and its error t inv - q exactly, in double (two floats' product is exact there).
    double ec = 0;
    int32_t l1max = 0;
    for (size_t k = 0; k < ksub; ++k) {
      int32_t sum = 0, l1 = 0;
      for (size_t j = 0; j < dsub; ++j) {
        const float t = cs[k * dsub + j];
        float q = (t * inv + 0x1.8p23f) - 0x1.8p23f;
        q = std::min(lv.levels, std::max(-lv.levels, q));
        ec = std::max(ec, std::fabs(static_cast<double>(t) * inv - q));
        const int32_t qi = static_cast<int32_t>(q);
        sum += qi;
        l1 += qi < 0 ? -qi : qi;
        if (levels == 127) {
          out->quads[k * (dsub / 4) + j / 4] |= static_cast<uint32_t>(static_cast<uint8_t>(static_cast<int8_t>(-qi)))
                                                << (8 * (j % 4));
        } else {
          out->pairs[k * (dsub / 2) + j / 2] |= static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(-qi)))
                                                << (16 * (j % 2));
        }
      }
      if (levels == 127) out->qsum[k] = 128 * sum;
      l1max = std::max(l1max, l1);
    }
    lv.ec = static_cast<float>(ec * (1 + 0x1p-20));
    lv.l1max = static_cast<float>(l1max);
  }
  const double up = 1 + 0x1p-20;
  out->cp = static_cast<float>(std::sqrt(cp2) * up);
  out->cmax = static_cast<float>(std::sqrt(c2) * up);
  out->usable = true;
}

}  // namespace lancer::simd
