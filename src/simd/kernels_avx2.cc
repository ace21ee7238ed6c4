// AVX2 + FMA + F16C kernels. Compiled with per-file -mavx2 -mfma -mf16c;
// only called after run-time detection (kernels_for).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "simd/codeword.h"
#include "simd/kernels.h"

namespace lancer::simd {
namespace {

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

// Loads the first n < 8 floats, zeros elsewhere.
inline __m256 load_partial(const float* p, size_t n) {
  alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(buf, p, n * sizeof(float));
  return _mm256_load_ps(buf);
}

float l2_sqr(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    const __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
    const __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8));
    s0 = _mm256_fmadd_ps(t0, t0, s0);
    s1 = _mm256_fmadd_ps(t1, t1, s1);
  }
  if (j + 8 <= d) {
    const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
    s0 = _mm256_fmadd_ps(t, t, s0);
    j += 8;
  }
  if (j < d) {
    const __m256 t = _mm256_sub_ps(load_partial(a + j, d - j), load_partial(b + j, d - j));
    s1 = _mm256_fmadd_ps(t, t, s1);
  }
  return hsum(_mm256_add_ps(s0, s1));
}

float dot(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), s1);
  }
  if (j + 8 <= d) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
    j += 8;
  }
  if (j < d) s1 = _mm256_fmadd_ps(load_partial(a + j, d - j), load_partial(b + j, d - j), s1);
  return hsum(_mm256_add_ps(s0, s1));
}

float norm_sqr(const float* a, size_t d) {
  return dot(a, a, d);
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
    const float* r = x + i * d;
    __m256 s = _mm256_setzero_ps(), nn = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= d; j += 8) {
      const __m256 vb = _mm256_loadu_ps(r + j);
      s = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), vb, s);
      nn = _mm256_fmadd_ps(vb, vb, nn);
    }
    if (j < d) {
      const __m256 vb = load_partial(r + j, d - j);
      s = _mm256_fmadd_ps(load_partial(q + j, d - j), vb, s);
      nn = _mm256_fmadd_ps(vb, vb, nn);
    }
    out[i] = 1.0f - hsum(s) / std::sqrt(qq * hsum(nn));
  }
}

void norm_sqr_batch(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = norm_sqr(x + i * d, d);
}

void f16_to_f32(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  if (i < n) {
    alignas(16) uint16_t h[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(32) float f[8];
    std::memcpy(h, in + i, (n - i) * sizeof(uint16_t));
    _mm256_store_ps(f, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h))));
    std::memcpy(out + i, f, (n - i) * sizeof(float));
  }
}

void u8_to_f32(const uint8_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
  }
  for (; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

struct LaneMin {
  __m256 val = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256i idx = _mm256_setzero_si256();
  inline void update(__m256 v, __m256i cols) {
    const __m256 m = _mm256_cmp_ps(v, val, _CMP_LT_OQ);
    val = _mm256_blendv_ps(val, v, m);
    idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(idx), _mm256_castsi256_ps(cols), m));
  }
  inline float reduce(uint32_t* col) const {
    alignas(32) float v[8];
    alignas(32) uint32_t c[8];
    _mm256_store_ps(v, val);
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), idx);
    float mn = v[0];
    uint32_t mc = c[0];
    for (int l = 1; l < 8; ++l) {
      if (v[l] < mn || (v[l] == mn && c[l] < mc)) {
        mn = v[l];
        mc = c[l];
      }
    }
    *col = mc;
    return mn;
  }
};

void argmin_update(const float* block, size_t rows, size_t cols, size_t ld, const float* bias, uint32_t col0,
                   float* best, uint32_t* best_idx) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t i = 0; i < rows; ++i) {
    const float* r = block + i * ld;
    LaneMin a;
    size_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      __m256 v = _mm256_loadu_ps(r + j);
      if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
      a.update(v, _mm256_add_epi32(iota, _mm256_set1_epi32(static_cast<int>(j))));
    }
    uint32_t col = 0;
    float mn = a.reduce(&col);
    for (; j < cols; ++j) {  // at most 7 columns, scalar
      const float v = bias ? r[j] + bias[j] : r[j];
      if (v < mn) {
        mn = v;
        col = static_cast<uint32_t>(j);
      }
    }
    if (mn < best[i]) {
      best[i] = mn;
      best_idx[i] = col0 + col;
    }
  }
}

template <bool kSecond>
inline void codeword_update(__m256 v, uint32_t k, __m256& best, __m256& second, __m256i& idx) {
  if (kSecond) second = _mm256_min_ps(second, _mm256_max_ps(best, v));
  const __m256 m = _mm256_cmp_ps(v, best, _CMP_LT_OQ);
  best = _mm256_blendv_ps(best, v, m);
  idx = _mm256_castps_si256(
      _mm256_blendv_ps(_mm256_castsi256_ps(idx), _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(k))), m));
}

// Codewords [k, k + G) against both 8-lane halves of one 16-point block:
// 2 * G independent FMA chains (enough to hide the FMA latency at G = 6), each
// codeword value is broadcast once for both halves. Every lane still computes
// v = cnorm[k] + sum_j x_j * cb[k][j] in j order, and candidates are taken in k
// order, so the result is the scalar reference's bit for bit.
template <size_t G, bool kSecond>
inline void score_group(const float* xt, size_t D, const float* cb, const float* cnorm, size_t k, __m256* best,
                        __m256* second, __m256i* idx) {
  __m256 v0[G], v1[G];
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) v0[g] = v1[g] = _mm256_set1_ps(cnorm[k + g]);
  const float* c = cb + k * D;
  for (size_t j = 0; j < D; ++j) {
    const __m256 x0 = _mm256_loadu_ps(xt + j * 16), x1 = _mm256_loadu_ps(xt + j * 16 + 8);
#pragma GCC unroll 8
    for (size_t g = 0; g < G; ++g) {
      const __m256 b = _mm256_broadcast_ss(c + g * D + j);
      v0[g] = _mm256_fmadd_ps(x0, b, v0[g]);
      v1[g] = _mm256_fmadd_ps(x1, b, v1[g]);
    }
  }
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) {
    codeword_update<kSecond>(v0[g], static_cast<uint32_t>(k + g), best[0], second[0], idx[0]);
    codeword_update<kSecond>(v1[g], static_cast<uint32_t>(k + g), best[1], second[1], idx[1]);
  }
}

// The last `rest` (< the group size) codewords, in one score_group<rest> pass over the block.
template <bool kSecond, size_t... G>
inline void score_tail(size_t rest, std::index_sequence<G...>, auto&&... args) {
  ((rest == G + 1 ? score_group<G + 1, kSecond>(args...) : void()), ...);
}

template <bool kSecond>
void nearest_impl(const CodewordSearch& a) {
  constexpr size_t kGroup = 6;
  const float inf = std::numeric_limits<float>::infinity();
  const size_t D = a.dsub;
  for (size_t blk = 0; blk < a.num_blocks; ++blk) {
    const float* xt = a.xt + blk * D * 16;
    __m256 best[2] = {_mm256_set1_ps(inf), _mm256_set1_ps(inf)}, second[2] = {best[0], best[1]};
    __m256i idx[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    size_t k = 0;
    for (; k + kGroup <= a.ksub; k += kGroup) score_group<kGroup, kSecond>(xt, D, a.cb, a.cnorm, k, best, second, idx);
    // The last 1-5 codewords in one pass over the block (as the AVX-512 kernel does).
    score_tail<kSecond>(a.ksub - k, std::make_index_sequence<kGroup - 1>{}, xt, D, a.cb, a.cnorm, k, best, second,
                        idx);
    for (size_t half = 0; half < 2; ++half) {
      const size_t o = blk * 16 + half * 8;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.best_idx + o), idx[half]);
      _mm256_storeu_ps(a.best + o, best[half]);
      if (kSecond) _mm256_storeu_ps(a.second + o, second[half]);
    }
  }
}

void nearest_codeword(const CodewordSearch& a) {
  if (a.second) {
    nearest_impl<true>(a);
  } else {
    nearest_impl<false>(a);
  }
}

size_t bounds_pass(const BoundsPass& a) {
  const size_t D = a.dsub;
  size_t count = 0;
  const __m256 vmax = _mm256_set1_ps(a.drift_max), vsecond = _mm256_set1_ps(a.drift_second);
  const __m256i vargmax = _mm256_set1_epi32(static_cast<int>(a.drift_argmax));
  const __m256 slack = _mm256_set1_ps(kBoundsSlack);
  const __m256i dvec = _mm256_set1_epi32(static_cast<int>(D));
  size_t i = 0;
  for (; i + 8 <= a.n; i += 8) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.label + i));
    __m256 u = _mm256_add_ps(_mm256_loadu_ps(a.upper + i), _mm256_i32gather_ps(a.drift, c, 4));
    const __m256 is_max = _mm256_castsi256_ps(_mm256_cmpeq_epi32(c, vargmax));
    const __m256 l = _mm256_sub_ps(_mm256_loadu_ps(a.lower + i), _mm256_blendv_ps(vmax, vsecond, is_max));
    _mm256_storeu_ps(a.lower + i, l);
    __m256 m = _mm256_max_ps(_mm256_i32gather_ps(a.half_gap, c, 4), l);
    if (a.xn) {  // bounds_room, lane by lane
      const __m256 e2 = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f * a.err_slack),
                                                    _mm256_add_ps(_mm256_loadu_ps(a.xn + i), _mm256_set1_ps(a.cmax))),
                                      _mm256_set1_ps(1 + 0x1p-10f));
      const __m256 t = _mm256_sub_ps(_mm256_mul_ps(m, m), e2);
      m = _mm256_blendv_ps(_mm256_set1_ps(-1.0f), _mm256_mul_ps(_mm256_sqrt_ps(t), _mm256_set1_ps(1 - 0x1p-20f)),
                           _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_GT_OQ));
    }
    __m256 check = _mm256_cmp_ps(u, m, _CMP_GT_OQ);
    if (_mm256_movemask_ps(check)) {
      const float* xt = a.xt + (i / 16) * D * 16 + (i % 16);
      const __m256i base = _mm256_mullo_epi32(c, dvec);
      __m256 s = _mm256_setzero_ps();
      for (size_t j = 0; j < D; ++j) {
        const __m256 cj =
            _mm256_i32gather_ps(a.centroids, _mm256_add_epi32(base, _mm256_set1_epi32(static_cast<int>(j))), 4);
        const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(xt + j * 16), cj);
        s = _mm256_fmadd_ps(t, t, s);
      }
      u = _mm256_blendv_ps(u, _mm256_mul_ps(_mm256_sqrt_ps(s), slack), check);
      check = _mm256_and_ps(check, _mm256_cmp_ps(u, m, _CMP_GT_OQ));
      int bits = _mm256_movemask_ps(check);
      while (bits) {
        a.todo[count++] = static_cast<uint32_t>(i + __builtin_ctz(bits));
        bits &= bits - 1;
      }
    }
    _mm256_storeu_ps(a.upper + i, u);
  }
  if (i < a.n) {  // tail through the scalar reference
    const size_t w = kCodewordBlock;
    for (size_t p = 0; p < a.n - i; ++p) {
      const size_t g = i + p;
      const uint32_t c = a.label[g];
      float u = a.upper[g] + a.drift[c];
      const float l = a.lower[g] - (c == a.drift_argmax ? a.drift_second : a.drift_max);
      a.lower[g] = l;
      float m = std::max(a.half_gap[c], l);
      if (a.xn) m = bounds_room(m, a.xn[g], a.err_slack, a.cmax);
      if (u > m) {
        const float* xt = a.xt + (g / w) * D * w + (g % w);
        float s = 0;
        for (size_t j = 0; j < D; ++j) {
          const float t = xt[j * w] - a.centroids[c * D + j];
          s = std::fma(t, t, s);
        }
        u = std::sqrt(s) * kBoundsSlack;
        if (u > m) a.todo[count++] = static_cast<uint32_t>(g);
      }
      a.upper[g] = u;
    }
  }
  if (a.todo_xt) pack_selected(a.xt, D, a.todo, count, a.todo_xt);
  return count;
}

void add_rows_f64(const float* x, size_t d, const uint32_t* rows, size_t count, double* acc) {
  for (size_t r = 0; r < count; ++r) {
    const float* row = x + static_cast<size_t>(rows[r]) * d;
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
      _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), _mm256_cvtps_pd(_mm_loadu_ps(row + j))));
    for (; j < d; ++j) acc[j] += static_cast<double>(row[j]);
  }
}

void add_rows_fixed(const float* x, size_t ld, size_t d, size_t count, const uint32_t* dest, double scale,
                    int64_t* acc) {
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52, see kernels.h
  const __m256d vscale = _mm256_set1_pd(scale), vmagic = _mm256_set1_pd(kMagic);
  const __m256i vbits = _mm256_castpd_si256(vmagic);
  for (size_t i = 0; i < count; ++i) {
    const float* row = x + i * ld;
    int64_t* a = acc + static_cast<size_t>(dest[i]) * d;
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
      const __m256d t = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(row + j)), vscale, vmagic);
      const __m256i q = _mm256_sub_epi64(_mm256_castpd_si256(t), vbits);
      auto* p = reinterpret_cast<__m256i*>(a + j);
      _mm256_storeu_si256(p, _mm256_add_epi64(_mm256_loadu_si256(p), q));
    }
    for (; j < d; ++j) {
      const double t = static_cast<double>(row[j]) * scale + kMagic;
      int64_t bits, magic_bits;
      std::memcpy(&bits, &t, sizeof bits);
      std::memcpy(&magic_bits, &kMagic, sizeof magic_bits);
      a[j] += bits - magic_bits;
    }
  }
}

// Bit-exact SQ codes with an f32 fast path and an exact f64 fallback, as in
// kernels_avx512.cc (see the comment there for the error bound).
void sq_encode(const float* x, size_t n, double start, double range, uint8_t* out) {
  const __m256d vstart = _mm256_set1_pd(start), vrange = _mm256_set1_pd(range);
  const __m256d vinv = _mm256_set1_pd(1.0 / range);
  const __m256d v255 = _mm256_set1_pd(255.0), zero = _mm256_setzero_pd();
  const __m256d lo_eps = _mm256_set1_pd(1e-12), hi_eps = _mm256_set1_pd(1.0 - 1e-12);
  const double scale = 255.0 / range;
  const float fs = static_cast<float>(start), fsc = static_cast<float>(scale);
  const double c1 = std::ldexp(scale, -21), c0 = std::ldexp(2.0 * scale * std::abs(start) + 256.0, -21);
  const bool fast = std::isfinite(fs) && std::isfinite(fsc) && fsc > 1e-30f && c0 < 0.25;
  const __m256 fstart = _mm256_set1_ps(fs), fscale = _mm256_set1_ps(fsc);
  const __m256 vc1 = _mm256_set1_ps(static_cast<float>(c1)), vc0 = _mm256_set1_ps(static_cast<float>(c0));
  const __m256 f255 = _mm256_set1_ps(255.0f), fzero = _mm256_setzero_ps(), fone = _mm256_set1_ps(1.0f);
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  auto floor4 = [&](__m256d v) {
    const __m256d a = _mm256_mul_pd(_mm256_sub_pd(v, vstart), v255);
    __m256d q = _mm256_mul_pd(a, vinv);
    __m256d c = _mm256_floor_pd(q);
    const __m256d frac = _mm256_sub_pd(q, c);
    const __m256d close =
        _mm256_or_pd(_mm256_cmp_pd(frac, lo_eps, _CMP_LT_OQ), _mm256_cmp_pd(frac, hi_eps, _CMP_GT_OQ));
    if (_mm256_movemask_pd(close)) {
      q = _mm256_blendv_pd(q, _mm256_div_pd(a, vrange), close);
      c = _mm256_floor_pd(q);
    }
    return _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_max_pd(c, zero), v255));  // NaN -> 0
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f = _mm256_loadu_ps(x + i);
    __m256i codes;
    bool done = false;
    if (fast) {
      const __m256 t = _mm256_mul_ps(_mm256_sub_ps(f, fstart), fscale);
      const __m256 c = _mm256_floor_ps(t);
      const __m256 frac = _mm256_sub_ps(t, c);
      const __m256 e = _mm256_fmadd_ps(_mm256_and_ps(f, absmask), vc1, vc0);
      const __m256 unsure =
          _mm256_or_ps(_mm256_cmp_ps(frac, e, _CMP_LT_OQ), _mm256_cmp_ps(frac, _mm256_sub_ps(fone, e), _CMP_GT_OQ));
      if (!_mm256_movemask_ps(unsure)) {
        codes = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(c, fzero), f255));  // NaN -> 0
        done = true;
      }
    }
    if (!done) {
      const __m128i lo = floor4(_mm256_cvtps_pd(_mm256_castps256_ps128(f)));
      const __m128i hi = floor4(_mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
      codes = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    const __m128i i16 = _mm_packus_epi32(_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(i16, i16));
  }
  for (; i < n; ++i) {
    double t = (static_cast<double>(x[i]) - start) * 255.0 / range;
    t = t > 0.0 ? t : 0.0;
    t = t < 255.0 ? t : 255.0;
    out[i] = static_cast<uint8_t>(static_cast<int>(t));
  }
}

template <bool kL2>
void pq_table(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table) {
  for (size_t s = 0; s < m; ++s) {
    const float* qs = q + s * dsub;
    const float* cs = codebook + s * ksub * dsub;
    for (size_t k = 0; k < ksub; ++k)
      table[s * ksub + k] = kL2 ? l2_sqr(qs, cs + k * dsub, dsub) : dot(qs, cs + k * dsub, dsub);
  }
}

void pq_l2_table(const float* q, const float* cb, size_t m, size_t ksub, size_t dsub, float* t) {
  pq_table<true>(q, cb, m, ksub, dsub, t);
}
void pq_dot_table(const float* q, const float* cb, size_t m, size_t ksub, size_t dsub, float* t) {
  pq_table<false>(q, cb, m, ksub, dsub, t);
}

}  // namespace

const Kernels& avx2_kernels() {
  static const Kernels k{
      .level = SimdLevel::kAvx2,
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
