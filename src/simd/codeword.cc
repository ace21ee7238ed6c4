// The level-independent halves of codeword search: transposed block packing,
// the -2-scaled codewords with their norms, packed point norms (codeword.h).
// Compiled once, without -m flags or FP contraction: the same bits everywhere.
#include "simd/codeword.h"

#include <cstring>

#include "simd/level.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace lancer::simd {

void pack_blocks(const float* x, size_t n, size_t stride, size_t dsub, float* xt, const float* offset) {
  const size_t w = kCodewordBlock;
  // Whole blocks of 8 or 16k-float rows: one 16 x 16 transpose in AVX-512 registers (the same
  // bits: a copy, or one subtraction per value).
  static const bool avx512 = best_simd_level() == SimdLevel::kAvx512;
  if (avx512 && (dsub == 8 || dsub % 16 == 0) && n >= w) {
    const size_t full = n / w * w;
    pack_blocks_avx512(x, full, stride, dsub, xt, offset);
    if (full == n) return;
    x += full * stride;
    xt += full * dsub;
    n -= full;
  }
  const size_t blocks = (n + w - 1) / w;
  for (size_t b = 0; b < blocks; ++b) {
    float* out = xt + b * dsub * w;
    const size_t rows = n - b * w < w ? n - b * w : w;
    if (rows < w) std::memset(out, 0, dsub * w * sizeof(float));
    const float* r0 = x + b * w * stride;
    size_t lane = 0, j0 = 0;
#if defined(__SSE2__)
    // 4 x 4 squares transposed in registers (x86-64's baseline; a copy, or one
    // subtraction per value, so the bits are the scalar loop's).
    if (rows == w) {
      for (; j0 + 4 <= dsub; j0 += 4) {
        const __m128 o = offset ? _mm_loadu_ps(offset + j0) : _mm_setzero_ps();
        for (size_t l = 0; l < w; l += 4) {
          __m128 a = _mm_loadu_ps(r0 + l * stride + j0), c = _mm_loadu_ps(r0 + (l + 1) * stride + j0);
          __m128 e = _mm_loadu_ps(r0 + (l + 2) * stride + j0), g = _mm_loadu_ps(r0 + (l + 3) * stride + j0);
          if (offset) {
            a = _mm_sub_ps(a, o);
            c = _mm_sub_ps(c, o);
            e = _mm_sub_ps(e, o);
            g = _mm_sub_ps(g, o);
          }
          _MM_TRANSPOSE4_PS(a, c, e, g);
          _mm_storeu_ps(out + j0 * w + l, a);
          _mm_storeu_ps(out + (j0 + 1) * w + l, c);
          _mm_storeu_ps(out + (j0 + 2) * w + l, e);
          _mm_storeu_ps(out + (j0 + 3) * w + l, g);
        }
      }
    }
#endif
    for (; lane < rows; ++lane) {
      const float* r = r0 + lane * stride;
      if (offset) {
        for (size_t j = j0; j < dsub; ++j) out[j * w + lane] = r[j] - offset[j];
      } else {
        for (size_t j = j0; j < dsub; ++j) out[j * w + lane] = r[j];
      }
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

void pack_selected(const float* xt, size_t dsub, const uint32_t* idx, size_t count, float* out) {
  const size_t w = kCodewordBlock;
  for (size_t t = 0; t < count; ++t) {
    const float* src = xt + (idx[t] / w) * dsub * w + idx[t] % w;
    float* dst = out + (t / w) * dsub * w + t % w;
    for (size_t j = 0; j < dsub; ++j) dst[j * w] = src[j * w];
  }
  if (const size_t used = count % w; used != 0) {
    float* last = out + (count / w) * dsub * w;
    for (size_t j = 0; j < dsub; ++j) std::memset(last + j * w + used, 0, (w - used) * sizeof(float));
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
