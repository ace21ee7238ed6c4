// AVX-512 kernels (F, BW, DQ, VL). Compiled with per-file -mavx512* flags;
// only called after run-time detection (kernels_for).
#include <immintrin.h>

#include <cmath>
#include <limits>
#include <utility>

#include "simd/codeword.h"
#include "simd/kernels.h"

namespace lancer::simd {
namespace {

inline __mmask16 tail_mask(size_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

float l2_sqr(const float* a, const float* b, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    const __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
    const __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16));
    s0 = _mm512_fmadd_ps(t0, t0, s0);
    s1 = _mm512_fmadd_ps(t1, t1, s1);
  }
  if (j + 16 <= d) {
    const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
    s0 = _mm512_fmadd_ps(t, t, s0);
    j += 16;
  }
  if (j < d) {
    const __mmask16 m = tail_mask(d - j);
    const __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j));
    s1 = _mm512_fmadd_ps(t, t, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

float dot(const float* a, const float* b, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16), s1);
  }
  if (j + 16 <= d) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
    j += 16;
  }
  if (j < d) {
    const __mmask16 m = tail_mask(d - j);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

float norm_sqr(const float* a, size_t d) {
  return dot(a, a, d);
}

// a.b and b.b in one pass.
inline void dot_and_norm(const float* a, const float* b, size_t d, float* ab, float* bb) {
  __m512 s = _mm512_setzero_ps(), n = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    const __m512 vb = _mm512_loadu_ps(b + j);
    s = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), vb, s);
    n = _mm512_fmadd_ps(vb, vb, n);
  }
  if (j < d) {
    const __mmask16 m = tail_mask(d - j);
    const __m512 vb = _mm512_maskz_loadu_ps(m, b + j);
    s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), vb, s);
    n = _mm512_fmadd_ps(vb, vb, n);
  }
  *ab = _mm512_reduce_add_ps(s);
  *bb = _mm512_reduce_add_ps(n);
}

void l2_sqr_batch(const float* q, const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = l2_sqr(q, x + i * d, d);
}

void dot_batch(const float* q, const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, x + i * d, d);
}

void cosine_batch(const float* q, const float* x, size_t n, size_t d, float* out) {
  const float qq = norm_sqr(q, d);
  for (size_t i = 0; i < n; ++i) {
    float ab, bb;
    dot_and_norm(q, x + i * d, d, &ab, &bb);
    out[i] = 1.0f - ab / std::sqrt(qq * bb);
  }
}

void norm_sqr_batch(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = norm_sqr(x + i * d, d);
}

void f16_to_f32(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, in + i)));
  }
}

void u8_to_f32(const uint8_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm512_storeu_ps(out + i, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m128i b = _mm_maskz_loadu_epi8(m, in + i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)));
  }
}

// Lane-wise running minimum; `idx` holds the column of each lane's minimum
// (the first one, as updates need a strict improvement).
struct LaneMin {
  __m512 val = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  __m512i idx = _mm512_setzero_si512();
  inline void update(__m512 v, __m512i cols) {
    const __mmask16 m = _mm512_cmp_ps_mask(v, val, _CMP_LT_OQ);
    val = _mm512_mask_mov_ps(val, m, v);
    idx = _mm512_mask_mov_epi32(idx, m, cols);
  }
  // Merges another lane set: smaller value wins, then smaller column.
  inline void merge(const LaneMin& o) {
    const __mmask16 lt = _mm512_cmp_ps_mask(o.val, val, _CMP_LT_OQ);
    const __mmask16 eq = _mm512_cmp_ps_mask(o.val, val, _CMP_EQ_OQ) & _mm512_cmp_epu32_mask(o.idx, idx, _MM_CMPINT_LT);
    val = _mm512_mask_mov_ps(val, lt | eq, o.val);
    idx = _mm512_mask_mov_epi32(idx, lt | eq, o.idx);
  }
  // The first minimum over lanes: (value, column); value +inf if none.
  inline float reduce(uint32_t* col) const {
    const float mn = _mm512_reduce_min_ps(val);
    const __mmask16 eq = _mm512_cmp_ps_mask(val, _mm512_set1_ps(mn), _CMP_EQ_OQ);
    *col = _mm512_mask_reduce_min_epu32(eq, idx);
    return mn;
  }
};

void argmin_update(const float* block, size_t rows, size_t cols, size_t ld, const float* bias, uint32_t col0,
                   float* best, uint32_t* best_idx) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < rows; ++i) {
    const float* r = block + i * ld;
    LaneMin a, b;
    size_t j = 0;
    if (bias) {
      for (; j + 32 <= cols; j += 32) {
        const __m512i c = _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(j)));
        a.update(_mm512_add_ps(_mm512_loadu_ps(r + j), _mm512_loadu_ps(bias + j)), c);
        b.update(_mm512_add_ps(_mm512_loadu_ps(r + j + 16), _mm512_loadu_ps(bias + j + 16)),
                 _mm512_add_epi32(c, _mm512_set1_epi32(16)));
      }
      for (; j < cols; j += 16) {
        const __mmask16 m = cols - j >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(cols - j);
        const __m512 v = _mm512_add_ps(_mm512_mask_loadu_ps(inf, m, r + j), _mm512_maskz_loadu_ps(m, bias + j));
        a.update(v, _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(j))));
      }
    } else {
      for (; j + 32 <= cols; j += 32) {
        const __m512i c = _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(j)));
        a.update(_mm512_loadu_ps(r + j), c);
        b.update(_mm512_loadu_ps(r + j + 16), _mm512_add_epi32(c, _mm512_set1_epi32(16)));
      }
      for (; j < cols; j += 16) {
        const __mmask16 m = cols - j >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(cols - j);
        a.update(_mm512_mask_loadu_ps(inf, m, r + j), _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(j))));
      }
    }
    a.merge(b);
    uint32_t col;
    const float mn = a.reduce(&col);
    if (mn < best[i]) {
      best[i] = mn;
      best_idx[i] = col0 + col;
    }
  }
}

// One candidate codeword k against the 16 lanes.
template <bool kSecond>
inline void codeword_update(__m512 v, uint32_t k, __m512& best, __m512& second, __m512i& idx) {
  if (kSecond) second = _mm512_min_ps(second, _mm512_max_ps(best, v));
  const __mmask16 m = _mm512_cmp_ps_mask(v, best, _CMP_LT_OQ);
  best = _mm512_mask_mov_ps(best, m, v);
  idx = _mm512_mask_mov_epi32(idx, m, _mm512_set1_epi32(static_cast<int>(k)));
}

// Sub-vector width known at compile time: the block's components live in
// registers, G codewords are scored at once (G independent FMA chains: 8 where
// the registers allow, enough to cover the FMA latency on both pipes; 4 above 16).
template <size_t D, bool kSecond>
void nearest_fixed(const CodewordSearch& a) {
  constexpr size_t G = D <= 16 ? 8 : 4;
  const float inf = std::numeric_limits<float>::infinity();
  for (size_t blk = 0; blk < a.num_blocks; ++blk) {
    __m512 x[D];
    for (size_t j = 0; j < D; ++j) x[j] = _mm512_loadu_ps(a.xt + (blk * D + j) * 16);
    __m512 best = _mm512_set1_ps(inf), second = best;
    __m512i idx = _mm512_setzero_si512();
    size_t k = 0;
    for (; k + G <= a.ksub; k += G) {
      const float* c = a.cb + k * D;
      __m512 v[G];
#pragma GCC unroll 8
      for (size_t g = 0; g < G; ++g) v[g] = _mm512_set1_ps(a.cnorm[k + g]);
      for (size_t j = 0; j < D; ++j) {
#pragma GCC unroll 8
        for (size_t g = 0; g < G; ++g) v[g] = _mm512_fmadd_ps(x[j], _mm512_set1_ps(c[g * D + j]), v[g]);
      }
#pragma GCC unroll 8
      for (size_t g = 0; g < G; ++g) codeword_update<kSecond>(v[g], static_cast<uint32_t>(k + g), best, second, idx);
    }
    for (; k < a.ksub; ++k) {
      __m512 v = _mm512_set1_ps(a.cnorm[k]);
      for (size_t j = 0; j < D; ++j) v = _mm512_fmadd_ps(x[j], _mm512_set1_ps(a.cb[k * D + j]), v);
      codeword_update<kSecond>(v, static_cast<uint32_t>(k), best, second, idx);
    }
    _mm512_storeu_si512(a.best_idx + blk * 16, idx);
    _mm512_storeu_ps(a.best + blk * 16, best);
    if (kSecond) _mm512_storeu_ps(a.second + blk * 16, second);
  }
}

// Codewords [k, k + G) against one block, G independent FMA chains (G = 8
// hides the FMA latency); lanes compute exactly what the scalar reference does.
template <size_t G, bool kSecond>
inline void score_group(const float* xt, size_t D, const float* cb, const float* cnorm, size_t k, __m512& best,
                        __m512& second, __m512i& idx) {
  __m512 v[G];
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) v[g] = _mm512_set1_ps(cnorm[k + g]);
  const float* c = cb + k * D;
  for (size_t j = 0; j < D; ++j) {
    const __m512 x = _mm512_loadu_ps(xt + j * 16);
#pragma GCC unroll 8
    for (size_t g = 0; g < G; ++g) v[g] = _mm512_fmadd_ps(x, _mm512_set1_ps(c[g * D + j]), v[g]);
  }
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) codeword_update<kSecond>(v[g], static_cast<uint32_t>(k + g), best, second, idx);
}

// The last `rest` (< the group size) codewords, in one score_group<rest> pass over the block.
template <bool kSecond, size_t... G>
inline void score_tail(size_t rest, std::index_sequence<G...>, auto&&... args) {
  ((rest == G + 1 ? score_group<G + 1, kSecond>(args...) : void()), ...);
}

// Any width: components are read from the block (L1 or L2).
template <bool kSecond>
void nearest_generic(const CodewordSearch& a) {
  constexpr size_t kGroup = 8;
  const float inf = std::numeric_limits<float>::infinity();
  const size_t D = a.dsub;
  for (size_t blk = 0; blk < a.num_blocks; ++blk) {
    const float* xt = a.xt + blk * D * 16;
    __m512 best = _mm512_set1_ps(inf), second = best;
    __m512i idx = _mm512_setzero_si512();
    size_t k = 0;
    for (; k + kGroup <= a.ksub; k += kGroup) score_group<kGroup, kSecond>(xt, D, a.cb, a.cnorm, k, best, second, idx);
    // The last 1-7 codewords in one pass over the block: with few codewords (k-means' groups of
    // about 21) passes of 2 and 1, each bound by the FMA latency, took as long as the full groups.
    score_tail<kSecond>(a.ksub - k, std::make_index_sequence<kGroup - 1>{}, xt, D, a.cb, a.cnorm, k, best, second,
                        idx);
    _mm512_storeu_si512(a.best_idx + blk * 16, idx);
    _mm512_storeu_ps(a.best + blk * 16, best);
    if (kSecond) _mm512_storeu_ps(a.second + blk * 16, second);
  }
}

template <bool kSecond>
void nearest_dispatch(const CodewordSearch& a) {
  switch (a.dsub) {
    case 1: return nearest_fixed<1, kSecond>(a);
    case 2: return nearest_fixed<2, kSecond>(a);
    case 4: return nearest_fixed<4, kSecond>(a);
    case 8: return nearest_fixed<8, kSecond>(a);
    case 12: return nearest_fixed<12, kSecond>(a);
    case 16: return nearest_fixed<16, kSecond>(a);
    default: return nearest_generic<kSecond>(a);
  }
}

void nearest_codeword(const CodewordSearch& a) {
  if (a.second) {
    nearest_dispatch<true>(a);
  } else {
    nearest_dispatch<false>(a);
  }
}

// In-register transpose of a 16 x 16 float matrix (r[p] row p -> r[j] column j).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int p = 0; p < 16; p += 2) {
    t[p] = _mm512_unpacklo_ps(r[p], r[p + 1]);
    t[p + 1] = _mm512_unpackhi_ps(r[p], r[p + 1]);
  }
  for (int p = 0; p < 16; p += 4) {
    r[p] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[p]), _mm512_castps_pd(t[p + 2])));
    r[p + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[p]), _mm512_castps_pd(t[p + 2])));
    r[p + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[p + 1]), _mm512_castps_pd(t[p + 3])));
    r[p + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[p + 1]), _mm512_castps_pd(t[p + 3])));
  }
  for (int h = 0; h < 16; h += 8) {
    for (int q = 0; q < 4; ++q) {
      t[h + q] = _mm512_shuffle_f32x4(r[h + q], r[h + 4 + q], 0x88);
      t[h + 4 + q] = _mm512_shuffle_f32x4(r[h + q], r[h + 4 + q], 0xdd);
    }
  }
  for (int q = 0; q < 8; ++q) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
  }
}

}  // namespace

void pack_blocks_avx512(const float* x, size_t n, size_t stride, size_t dsub, float* xt, const float* offset) {
  // Rows far apart (a sub-vector of long rows: a cache line each, a page each) are fetched a few
  // blocks ahead, so that their misses overlap.
  const bool scattered = stride * sizeof(float) >= 4096 && dsub <= 16;
  for (size_t b = 0; b < n / 16; ++b) {
    const float* r0 = x + b * 16 * stride;
    float* out = xt + b * dsub * 16;
    if (scattered && b + 4 < n / 16)
      for (size_t l = 0; l < 16; ++l) _mm_prefetch(reinterpret_cast<const char*>(r0 + (64 + l) * stride), _MM_HINT_T0);
    for (size_t j0 = 0; j0 < dsub; j0 += 16) {
      const size_t w = dsub - j0 < 16 ? dsub - j0 : 16;
      const __mmask16 m = tail_mask(w);
      __m512 r[16];
      for (size_t l = 0; l < 16; ++l) r[l] = _mm512_maskz_loadu_ps(m, r0 + l * stride + j0);
      if (offset) {
        const __m512 o = _mm512_maskz_loadu_ps(m, offset + j0);
        for (size_t l = 0; l < 16; ++l) r[l] = _mm512_sub_ps(r[l], o);
      }
      transpose16(r);
      for (size_t j = 0; j < w; ++j) _mm512_storeu_ps(out + (j0 + j) * 16, r[j]);
    }
  }
}

namespace {

size_t bounds_pass(const BoundsPass& a) {
  const size_t D = a.dsub;
  size_t count = 0;
  const __m512 vmax = _mm512_set1_ps(a.drift_max), vsecond = _mm512_set1_ps(a.drift_second);
  const __m512i vargmax = _mm512_set1_epi32(static_cast<int>(a.drift_argmax));
  const __m512 slack = _mm512_set1_ps(kBoundsSlack);
  const __m512i dvec = _mm512_set1_epi32(static_cast<int>(D));
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (size_t i = 0; i < a.n; i += 16) {
    const __mmask16 live = a.n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(a.n - i);
    const __m512i c = _mm512_maskz_loadu_epi32(live, a.label + i);
    __m512 u = _mm512_add_ps(_mm512_maskz_loadu_ps(live, a.upper + i),
                             _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, c, a.drift, 4));
    const __mmask16 is_max = _mm512_cmpeq_epi32_mask(c, vargmax);
    const __m512 l =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(live, a.lower + i), _mm512_mask_blend_ps(is_max, vmax, vsecond));
    _mm512_mask_storeu_ps(a.lower + i, live, l);
    __m512 m = _mm512_max_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, c, a.half_gap, 4), l);
    if (a.xn) {  // bounds_room, lane by lane
      const __m512 e2 =
          _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f * a.err_slack),
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(live, a.xn + i), _mm512_set1_ps(a.cmax))),
                        _mm512_set1_ps(1 + 0x1p-10f));
      const __m512 t = _mm512_sub_ps(_mm512_mul_ps(m, m), e2);
      m = _mm512_mask_mul_ps(_mm512_set1_ps(-1.0f), _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_GT_OQ),
                             _mm512_sqrt_ps(t), _mm512_set1_ps(1 - 0x1p-20f));
    }
    __mmask16 check = _mm512_mask_cmp_ps_mask(live, u, m, _CMP_GT_OQ);
    if (check && D == 16) {  // each lane's centroid is one register: 16 loads and a transpose, no gathers
      const float* xt = a.xt + i * 16;
      alignas(64) uint32_t lab[16];
      _mm512_store_si512(lab, c);
      __m512 r[16];
      for (int p = 0; p < 16; ++p) r[p] = _mm512_loadu_ps(a.centroids + size_t{lab[p]} * 16);
      transpose16(r);
      __m512 s = _mm512_setzero_ps();
      for (size_t j = 0; j < 16; ++j) {
        const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(xt + j * 16), r[j]);
        s = _mm512_fmadd_ps(t, t, s);
      }
      u = _mm512_mask_mov_ps(u, check, _mm512_mul_ps(_mm512_sqrt_ps(s), slack));
      check = _mm512_mask_cmp_ps_mask(check, u, m, _CMP_GT_OQ);
    } else if (check) {
      const float* xt = a.xt + (i / 16) * D * 16;
      const __m512i base = _mm512_mullo_epi32(c, dvec);
      __m512 s = _mm512_setzero_ps();
      for (size_t j = 0; j < D; ++j) {
        const __m512 cj = _mm512_mask_i32gather_ps(
            _mm512_setzero_ps(), check, _mm512_add_epi32(base, _mm512_set1_epi32(static_cast<int>(j))), a.centroids, 4);
        const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(xt + j * 16), cj);
        s = _mm512_fmadd_ps(t, t, s);
      }
      u = _mm512_mask_mov_ps(u, check, _mm512_mul_ps(_mm512_sqrt_ps(s), slack));
      check = _mm512_mask_cmp_ps_mask(check, u, m, _CMP_GT_OQ);
    }
    if (check) {
      const float* xt = a.xt + (i / 16) * D * 16;
      _mm512_mask_compressstoreu_epi32(a.todo + count, check,
                                       _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(i))));
      const size_t pc = static_cast<size_t>(__builtin_popcount(check));
      if (a.todo_xt && pc != 0) {
        // The selected lanes go to positions count.. of the packed output: compressed to
        // the front, rotated by count % 16, split over (at most) two blocks.
        const size_t off = count % 16, end = off + pc;
        const __m512i rot =
            _mm512_and_si512(_mm512_sub_epi32(iota, _mm512_set1_epi32(static_cast<int>(off))), _mm512_set1_epi32(15));
        const __mmask16 first = static_cast<__mmask16>(tail_mask(end < 16 ? end : 16) & ~tail_mask(off));
        const __mmask16 spill = end > 16 ? tail_mask(end - 16) : 0;
        float* out = a.todo_xt + (count / 16) * D * 16;
        for (size_t j = 0; j < D; ++j) {
          const __m512 v = _mm512_permutexvar_ps(rot, _mm512_maskz_compress_ps(check, _mm512_loadu_ps(xt + j * 16)));
          _mm512_mask_storeu_ps(out + j * 16, first, v);
          if (spill) _mm512_mask_storeu_ps(out + (D + j) * 16, spill, v);
        }
      }
      count += pc;
    }
    _mm512_mask_storeu_ps(a.upper + i, live, u);
  }
  if (a.todo_xt && count % 16 != 0) {  // zero the last block's padding lanes
    const __mmask16 pad = static_cast<__mmask16>(~tail_mask(count % 16));
    float* last = a.todo_xt + (count / 16) * D * 16;
    for (size_t j = 0; j < D; ++j) _mm512_mask_storeu_ps(last + j * 16, pad, _mm512_setzero_ps());
  }
  return count;
}

void add_rows_f64(const float* x, size_t d, const uint32_t* rows, size_t count, double* acc) {
  for (size_t r = 0; r < count; ++r) {
    const float* row = x + static_cast<size_t>(rows[r]) * d;
    if (r + 4 < count) {  // rows are scattered: keep a few in flight
      const char* next = reinterpret_cast<const char*>(x + static_cast<size_t>(rows[r + 4]) * d);
      for (size_t b = 0; b < d * sizeof(float); b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
    }
    size_t j = 0;
    for (; j + 8 <= d; j += 8)
      _mm512_storeu_pd(acc + j, _mm512_add_pd(_mm512_loadu_pd(acc + j), _mm512_cvtps_pd(_mm256_loadu_ps(row + j))));
    if (j < d) {
      const __mmask8 m = static_cast<__mmask8>((1u << (d - j)) - 1u);
      _mm512_mask_storeu_pd(
          acc + j, m,
          _mm512_add_pd(_mm512_maskz_loadu_pd(m, acc + j), _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, row + j))));
    }
  }
}

void add_rows_fixed(const float* x, size_t ld, size_t d, size_t count, const uint32_t* dest, double scale,
                    int64_t* acc) {
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52, see kernels.h
  const __m512d vscale = _mm512_set1_pd(scale), vmagic = _mm512_set1_pd(kMagic);
  const __m512i vbits = _mm512_castpd_si512(vmagic);
  auto fixed = [&](__m256 v) {
    return _mm512_sub_epi64(_mm512_castpd_si512(_mm512_fmadd_pd(_mm512_cvtps_pd(v), vscale, vmagic)), vbits);
  };
  for (size_t i = 0; i < count; ++i) {
    const float* row = x + i * ld;
    int64_t* a = acc + static_cast<size_t>(dest[i]) * d;
    size_t j = 0;
    for (; j + 16 <= d; j += 16) {
      const __m512i q0 = fixed(_mm256_loadu_ps(row + j)), q1 = fixed(_mm256_loadu_ps(row + j + 8));
      _mm512_storeu_si512(a + j, _mm512_add_epi64(_mm512_loadu_si512(a + j), q0));
      _mm512_storeu_si512(a + j + 8, _mm512_add_epi64(_mm512_loadu_si512(a + j + 8), q1));
    }
    for (; j < d; j += 8) {
      const size_t left = d - j < 8 ? d - j : 8;
      const __mmask8 m = static_cast<__mmask8>((1u << left) - 1u);
      const __m512i q = fixed(_mm256_maskz_loadu_ps(m, row + j));
      _mm512_mask_storeu_epi64(a + j, m, _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, a + j), q));
    }
  }
}

// SQ codes, bit-exact with the reference (double arithmetic, one division).
// Fast path: t = (x - start) * (255 / range) in f32, 16 lanes at a time, with a
// per-lane bound E on its distance from the exact double quotient
// (E = c1 * |x| + c0, from the rounding errors of the f32 operations, with a 2x
// margin). When every lane's t is farther than E from an integer, its floor is
// the reference's floor; otherwise the 16 values go through the exact path:
// the product with 1 / range in f64, and a true division for lanes within
// 1e-12 of an integer.
struct SqConstants {
  __m512d start, range, inv, c255, zero, lo_eps, hi_eps;
  __m512 fstart, fscale, c1, c0, f255, fzero, fone;
  bool fast;
};

inline __m256i sq_floor8_exact(__m512d v, const SqConstants& k) {
  const __m512d a = _mm512_mul_pd(_mm512_sub_pd(v, k.start), k.c255);
  __m512d q = _mm512_mul_pd(a, k.inv);
  __m512d c = _mm512_roundscale_pd(q, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512d frac = _mm512_sub_pd(q, c);
  const __mmask8 close =
      _mm512_cmp_pd_mask(frac, k.lo_eps, _CMP_LT_OQ) | _mm512_cmp_pd_mask(frac, k.hi_eps, _CMP_GT_OQ);
  if (close) {
    q = _mm512_mask_div_pd(q, close, a, k.range);
    c = _mm512_mask_roundscale_pd(c, close, q, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  }
  // max(c, 0) returns 0 for NaN c (the second operand wins on NaN).
  return _mm512_cvttpd_epi32(_mm512_min_pd(_mm512_max_pd(c, k.zero), k.c255));
}

inline __m512i sq_codes16(__m512 f, const SqConstants& k) {
  if (k.fast) {
    const __m512 t = _mm512_mul_ps(_mm512_sub_ps(f, k.fstart), k.fscale);
    const __m512 c = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_sub_ps(t, c);
    const __m512 e = _mm512_fmadd_ps(_mm512_abs_ps(f), k.c1, k.c0);
    const __mmask16 unsure =
        _mm512_cmp_ps_mask(frac, e, _CMP_LT_OQ) | _mm512_cmp_ps_mask(frac, _mm512_sub_ps(k.fone, e), _CMP_GT_OQ);
    if (!unsure) return _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(c, k.fzero), k.f255));
  }
  const __m256i lo = sq_floor8_exact(_mm512_cvtps_pd(_mm512_castps512_ps256(f)), k);
  const __m256i hi =
      sq_floor8_exact(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))), k);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

void sq_encode(const float* x, size_t n, double start, double range, uint8_t* out) {
  SqConstants k;
  k.start = _mm512_set1_pd(start);
  k.range = _mm512_set1_pd(range);
  k.inv = _mm512_set1_pd(1.0 / range);
  k.c255 = _mm512_set1_pd(255.0);
  k.zero = _mm512_setzero_pd();
  k.lo_eps = _mm512_set1_pd(1e-12);
  k.hi_eps = _mm512_set1_pd(1.0 - 1e-12);
  const double scale = 255.0 / range;
  const float fs = static_cast<float>(start), fsc = static_cast<float>(scale);
  const double c1 = std::ldexp(scale, -21), c0 = std::ldexp(2.0 * scale * std::abs(start) + 256.0, -21);
  k.fast = std::isfinite(fs) && std::isfinite(fsc) && fsc > 1e-30f && c0 < 0.25;
  k.fstart = _mm512_set1_ps(fs);
  k.fscale = _mm512_set1_ps(fsc);
  k.c1 = _mm512_set1_ps(static_cast<float>(c1));
  k.c0 = _mm512_set1_ps(static_cast<float>(c0));
  k.f255 = _mm512_set1_ps(255.0f);
  k.fzero = _mm512_setzero_ps();
  k.fone = _mm512_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(sq_codes16(_mm512_loadu_ps(x + i), k)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, m, sq_codes16(_mm512_maskz_loadu_ps(m, x + i), k));
  }
}

template <bool kL2>
void pq_table(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table) {
  for (size_t s = 0; s < m; ++s) {
    const float* qs = q + s * dsub;
    const float* cs = codebook + s * ksub * dsub;
    if (dsub <= 16) {
      const __mmask16 mk = tail_mask(dsub);
      const __m512 vq = _mm512_maskz_loadu_ps(mk, qs);
      for (size_t k = 0; k < ksub; ++k) {
        const __m512 c = _mm512_maskz_loadu_ps(mk, cs + k * dsub);
        if (kL2) {
          const __m512 t = _mm512_sub_ps(vq, c);
          table[s * ksub + k] = _mm512_reduce_add_ps(_mm512_mul_ps(t, t));
        } else {
          table[s * ksub + k] = _mm512_reduce_add_ps(_mm512_mul_ps(vq, c));
        }
      }
    } else {
      for (size_t k = 0; k < ksub; ++k)
        table[s * ksub + k] = kL2 ? l2_sqr(qs, cs + k * dsub, dsub) : dot(qs, cs + k * dsub, dsub);
    }
  }
}

void pq_l2_table(const float* q, const float* cb, size_t m, size_t ksub, size_t dsub, float* t) {
  pq_table<true>(q, cb, m, ksub, dsub, t);
}
void pq_dot_table(const float* q, const float* cb, size_t m, size_t ksub, size_t dsub, float* t) {
  pq_table<false>(q, cb, m, ksub, dsub, t);
}

}  // namespace

const Kernels& avx512_kernels() {
  static const Kernels k{
      .level = SimdLevel::kAvx512,
      .l2_sqr = l2_sqr,
      .dot = dot,
      .norm_sqr = norm_sqr,
      .l2_sqr_batch = l2_sqr_batch,
      .dot_batch = dot_batch,
      .cosine_batch = cosine_batch,
      .norm_sqr_batch = norm_sqr_batch,
      .f16_to_f32 = f16_to_f32,
      .u8_to_f32 = u8_to_f32,
      .argmin_update = argmin_update,
      .nearest_codeword = nearest_codeword,
      .bounds_pass = bounds_pass,
      .add_rows_f64 = add_rows_f64,
      .add_rows_fixed = add_rows_fixed,
      .sq_encode = sq_encode,
      .pq_l2_table = pq_l2_table,
      .pq_dot_table = pq_dot_table,
  };
  return k;
}

}  // namespace lancer::simd
