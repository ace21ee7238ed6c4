// AVX512-BF16 kernels of bf16_scores.h. Only bf16_scores' sums are inexact
// (and only propose candidates); canonical_pair_scores is exact.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "simd/bf16_scores.h"
#include "simd/bf16_scores_amx.h"

namespace lancer::simd {
namespace {

// Two floats (minus shift) as one pair of bfloat16, round to nearest even.
inline void pack_row(const float* x, size_t d, const float* shift, uint32_t* out) {
  const size_t pairs = bf16_pairs(d);
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    __m512 a = _mm512_loadu_ps(x + j), b = _mm512_loadu_ps(x + j + 16);
    if (shift) {
      a = _mm512_sub_ps(a, _mm512_loadu_ps(shift + j));
      b = _mm512_sub_ps(b, _mm512_loadu_ps(shift + j + 16));
    }
    // cvtne2ps: the second operand fills the low half; then restore element order.
    const __m512i packed = (__m512i)_mm512_cvtne2ps_pbh(b, a);
    _mm512_storeu_si512(out + j / 2, packed);
  }
  if (j < d) {
    alignas(64) float tail[32] = {};
    for (size_t t = j; t < d; ++t) tail[t - j] = shift ? x[t] - shift[t] : x[t];
    __m512 a = _mm512_load_ps(tail), b = _mm512_load_ps(tail + 16);
    alignas(64) uint32_t packed[16];
    _mm512_store_si512(packed, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    std::memcpy(out + j / 2, packed, (pairs - j / 2) * sizeof(uint32_t));
  }
}

}  // namespace

void bf16_pack_rows(const float* x, size_t n, size_t stride, size_t d, const float* shift, uint32_t* out) {
  const size_t pairs = bf16_pairs(d), np = bf16_round_up(n, kBf16RowTile);
  for (size_t r = 0; r < n; ++r) pack_row(x + r * stride, d, shift, out + r * pairs);
  std::memset(out + n * pairs, 0, (np - n) * pairs * sizeof(uint32_t));
}

void bf16_pack_panels(const float* c, size_t k, size_t d, const float* shift, uint32_t* out) {
  const size_t pairs = bf16_pairs(d), kp = bf16_round_up(k, kBf16Panel);
  std::vector<uint32_t> row(pairs);
  for (size_t i = 0; i < kp; ++i) {  // the padding centroids are zero
    if (i < k) {
      pack_row(c + i * d, d, shift, row.data());
    } else if (i == k) {
      std::fill(row.begin(), row.end(), 0u);
    }
    uint32_t* panel = out + (i / 16) * pairs * 16;
    for (size_t j = 0; j < pairs; ++j) panel[j * 16 + i % 16] = row[j];
  }
}

namespace {

// Scores of R rows against P panels of 16 centroids (P * R accumulators);
// the panels follow each other, pairs * 16 apart.
template <size_t P, size_t R>
inline void score_tile(const uint32_t* x, size_t pairs, const uint32_t* panel, float* out, size_t kp) {
  __m512 acc[P][R];
  for (size_t p = 0; p < P; ++p)
    for (size_t r = 0; r < R; ++r) acc[p][r] = _mm512_setzero_ps();
  for (size_t j = 0; j < pairs; ++j) {
    __m512bh b[P];
    for (size_t p = 0; p < P; ++p) b[p] = (__m512bh)_mm512_loadu_si512(panel + (p * pairs + j) * 16);
#pragma GCC unroll 8
    for (size_t r = 0; r < R; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(x[r * pairs + j]));
      for (size_t p = 0; p < P; ++p) acc[p][r] = _mm512_dpbf16_ps(acc[p][r], a, b[p]);
    }
  }
  for (size_t r = 0; r < R; ++r)
    for (size_t p = 0; p < P; ++p) _mm512_storeu_ps(out + r * kp + p * 16, acc[p][r]);
}

}  // namespace

// Two panels (32 centroids) by 8 rows per tile; a last single panel when kp
// is an odd number of 16s (k-means groups of ~33 centroids then score 48, not
// 64). (More rows per tile were slower: rows 2,048-d apart share L1 sets.)
void bf16_scores(const uint32_t* rows, size_t n, const uint32_t* panels, size_t kp, size_t pairs, float* out) {
  constexpr size_t R = kBf16RowTile;
  if (amx_bf16_available() && bf16_scores_amx(rows, n, panels, kp, pairs, out)) return;
  size_t c0 = 0;
  for (; c0 + 32 <= kp; c0 += 32) {
    for (size_t r0 = 0; r0 < n; r0 += R)
      score_tile<2, R>(rows + r0 * pairs, pairs, panels + c0 * pairs, out + r0 * kp + c0, kp);
  }
  if (c0 < kp) {
    for (size_t r0 = 0; r0 < n; r0 += R)
      score_tile<1, R>(rows + r0 * pairs, pairs, panels + c0 * pairs, out + r0 * kp + c0, kp);
  }
}

namespace {

// |v|, rounded up: float sums with 16 lanes, then the error of any float sum
// of n terms (gamma_n) added back.
inline float norm_up(__m512 acc, size_t n) {
  const double g = static_cast<double>(n) * 0x1p-24 / (1 - static_cast<double>(n) * 0x1p-24);
  const double s = static_cast<double>(_mm512_reduce_add_ps(acc));
  return static_cast<float>(std::sqrt(s * (1 + 2 * g)) * (1 + 0x1p-20));
}

}  // namespace

size_t bf16_candidates(const float* x, size_t m, size_t d, const float* shift, const float* scores, size_t kp,
                       size_t k, const float* cn, const float* alpha, const float* beta, const float* eta,
                       uint32_t* rows, uint32_t* cols, size_t cap) {
  const float inf = std::numeric_limits<float>::infinity();
  const bool l2 = cn != nullptr;
  size_t count = 0;
  for (size_t r = 0; r < m; ++r) {
    const float* xr = x + r * d;
    __m512 sx = _mm512_setzero_ps(), ss = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= d; j += 16) {
      const __m512 v = _mm512_loadu_ps(xr + j);
      sx = _mm512_fmadd_ps(v, v, sx);
      if (l2) {
        const __m512 t = _mm512_sub_ps(v, _mm512_loadu_ps(shift + j));
        ss = _mm512_fmadd_ps(t, t, ss);
      }
    }
    if (j < d) {
      const __mmask16 tail = static_cast<__mmask16>((1u << (d - j)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(tail, xr + j);
      sx = _mm512_fmadd_ps(v, v, sx);
      if (l2) {
        const __m512 t = _mm512_sub_ps(v, _mm512_maskz_loadu_ps(tail, shift + j));
        ss = _mm512_fmadd_ps(t, t, ss);
      }
    }
    const float nx = norm_up(sx, d), ns = l2 ? norm_up(ss, 2 * d) : nx;
    if (!std::isfinite(nx) || !std::isfinite(ns)) return SIZE_MAX;
    const __m512 vnx = _mm512_set1_ps(nx), vns = _mm512_set1_ps(ns);
    const float* p = scores + r * kp;
    __m512 bound = _mm512_set1_ps(inf), finite = _mm512_setzero_ps();
    // The proposal and margin of centroids [c, c + 16), lanes past k masked off.
    auto lane_bounds = [&](size_t c, __mmask16 live, __m512& lo, __m512& hi) {
      const __m512 pv = _mm512_maskz_loadu_ps(live, p + c);
      const __m512 a = l2 ? _mm512_sub_ps(_mm512_maskz_loadu_ps(live, cn + c), _mm512_add_ps(pv, pv))
                          : _mm512_sub_ps(_mm512_setzero_ps(), pv);
      __m512 margin = _mm512_mul_ps(_mm512_maskz_loadu_ps(live, alpha + c), vns);
      margin = _mm512_add_ps(margin, _mm512_mul_ps(_mm512_maskz_loadu_ps(live, beta + c), vnx));
      margin = _mm512_add_ps(margin, _mm512_maskz_loadu_ps(live, eta + c));
      lo = _mm512_sub_ps(a, margin);
      hi = _mm512_add_ps(a, margin);
    };
    for (size_t c = 0; c < k; c += 16) {
      const __mmask16 live = k - c >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (k - c)) - 1);
      __m512 lo, hi;
      lane_bounds(c, live, lo, hi);
      bound = _mm512_mask_min_ps(bound, live, bound, hi);
      finite = _mm512_mask_add_ps(finite, live, finite, _mm512_mul_ps(hi, _mm512_setzero_ps()));
    }
    const float b = _mm512_reduce_min_ps(bound);
    if (!std::isfinite(b) || _mm512_reduce_add_ps(finite) != 0.0f) return SIZE_MAX;
    const __m512 vb = _mm512_set1_ps(b);
    for (size_t c = 0; c < k; c += 16) {
      const __mmask16 live = k - c >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (k - c)) - 1);
      __m512 lo, hi;
      lane_bounds(c, live, lo, hi);
      __mmask16 hit = _mm512_mask_cmp_ps_mask(live, lo, vb, _CMP_LE_OQ);
      while (hit) {
        if (count == cap) return SIZE_MAX;
        rows[count] = static_cast<uint32_t>(r);
        cols[count] = static_cast<uint32_t>(c + static_cast<size_t>(__builtin_ctz(hit)));
        ++count;
        hit = static_cast<__mmask16>(hit & (hit - 1));
      }
    }
  }
  return count;
}

namespace {

constexpr size_t kChains = 8, kStep = 16;  // 16 floats: one cache line

// Runs kChains chains v[g] = step(v[g], a[g][j], b[g][j]) for j = 0 .. d - 1 in
// order, interleaved. Rows d floats apart share cache sets when d * 4 is a
// multiple of 4 KiB, so chain g runs one cache line behind chain g - 1: at any
// moment the chains read different sets. Each chain's operations are exactly
// its own sequence, whatever the interleaving.
template <typename Step>
inline void skewed_chains(const float* const* a, const float* const* b, size_t d, float* v, Step step) {
  constexpr size_t G = kChains;
  const size_t nb = (d + kStep - 1) / kStep;
  for (size_t t = 0; t < nb + G - 1; ++t) {              // step t: chain g works on its block t - g
    if (t >= G - 1 && t < nb && (t + 1) * kStep <= d) {  // every chain on a whole block
      for (size_t e = 0; e < kStep; ++e) {
#pragma GCC unroll 8
        for (size_t g = 0; g < G; ++g) {
          const size_t j = (t - g) * kStep + e;
          v[g] = step(v[g], a[g][j], b[g][j]);
        }
      }
    } else {
      for (size_t g = 0; g < G; ++g) {
        if (t < g || t - g >= nb) continue;
        const size_t j0 = (t - g) * kStep, j1 = j0 + kStep < d ? j0 + kStep : d;
        for (size_t j = j0; j < j1; ++j) v[g] = step(v[g], a[g][j], b[g][j]);
      }
    }
  }
}

}  // namespace

// Eight pairs at a time, one scalar FMA chain each (gathers were ~10x
// slower). A short last group repeats its first pair.
void canonical_pair_scores(const float* x, size_t stride, size_t d, const float* cb, const float* cnorm,
                           const uint32_t* rows, const uint32_t* cols, size_t count, float* out) {
  constexpr size_t G = kChains;
  for (size_t i = 0; i < count; i += G) {
    const float* xr[G];
    const float* cr[G];
    float v[G];
    for (size_t g = 0; g < G; ++g) {
      const size_t at = i + g < count ? i + g : i;
      xr[g] = x + size_t{rows[at]} * stride;
      cr[g] = cb + size_t{cols[at]} * d;
      v[g] = cnorm[cols[at]];
    }
    skewed_chains(xr, cr, d, v, [](float acc, float a, float b) { return __builtin_fmaf(a, b, acc); });
    for (size_t g = 0; g < G && i + g < count; ++g) out[i + g] = v[g];
  }
}

namespace {

// Lanes' values at step j from up to four packed blocks of 16 points: the
// blocks as they are stored, `idx` each lane's point (< 64), `hi` the lanes
// with points >= 32.
template <bool kFour>
inline __m512 pick(const float* const* blocks, size_t j, __m512i idx, __mmask16 hi) {
  const __m512 lo =
      _mm512_permutex2var_ps(_mm512_loadu_ps(blocks[0] + j * 16), idx, _mm512_loadu_ps(blocks[1] + j * 16));
  if constexpr (!kFour) {
    return lo;
  } else {
    const __m512 up =
        _mm512_permutex2var_ps(_mm512_loadu_ps(blocks[2] + j * 16), idx, _mm512_loadu_ps(blocks[3] + j * 16));
    return _mm512_mask_blend_ps(hi, lo, up);
  }
}

// G groups of 16 pairs at once (independent FMA chains; the blocks' loads shared).
template <bool kRowsFour, bool kColsFour, size_t G>
inline void packed_groups(const float* const* xb, const float* const* cb, size_t d, const float* cnorm,
                          const uint32_t* rows, const uint32_t* cols, size_t count, float* out) {
  __m512i ri[G], ci[G];
  __mmask16 rh[G], ch[G], live[G];
  __m512 v[G];
  for (size_t g = 0; g < G; ++g) {
    const size_t at = g * 16, left = count > at ? count - at : 0;
    live[g] = left >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    ri[g] = _mm512_maskz_loadu_epi32(live[g], rows + at);  // dead lanes: pair (0, 0)
    ci[g] = _mm512_maskz_loadu_epi32(live[g], cols + at);
    rh[g] = _mm512_cmpge_epu32_mask(ri[g], _mm512_set1_epi32(32));
    ch[g] = _mm512_cmpge_epu32_mask(ci[g], _mm512_set1_epi32(32));
    v[g] = _mm512_i32gather_ps(ci[g], cnorm, 4);
  }
  for (size_t j = 0; j < d; ++j) {
    for (size_t g = 0; g < G; ++g)
      v[g] = _mm512_fmadd_ps(pick<kRowsFour>(xb, j, ri[g], rh[g]), pick<kColsFour>(cb, j, ci[g], ch[g]), v[g]);
  }
  for (size_t g = 0; g < G; ++g) _mm512_mask_storeu_ps(out + g * 16, live[g], v[g]);
}

template <bool kRowsFour, bool kColsFour>
void packed_pairs(const float* const* xb, const float* const* cb, size_t d, const float* cnorm, const uint32_t* rows,
                  const uint32_t* cols, size_t count, float* out) {
  constexpr size_t G = 4;
  size_t i = 0;
  for (; i + 16 * G <= count; i += 16 * G)
    packed_groups<kRowsFour, kColsFour, G>(xb, cb, d, cnorm, rows + i, cols + i, 16 * G, out + i);
  for (; i < count; i += 16)
    packed_groups<kRowsFour, kColsFour, 1>(xb, cb, d, cnorm, rows + i, cols + i, count - i, out + i);
}

}  // namespace

void canonical_pair_scores_packed(const float* xt, size_t m, const float* cbt, size_t k, size_t d, const float* cnorm,
                                  const uint32_t* rows, const uint32_t* cols, size_t count, float* out) {
  // Blocks past the last stand in for it: no lane selects them.
  const float* xb[4];
  const float* cb[4];
  for (size_t b = 0; b < 4; ++b) {
    xb[b] = xt + std::min(b, (m - 1) / 16) * 16 * d;
    cb[b] = cbt + std::min(b, (k - 1) / 16) * 16 * d;
  }
  const bool rows_four = m > 32, cols_four = k > 32;
  if (rows_four && cols_four) {
    packed_pairs<true, true>(xb, cb, d, cnorm, rows, cols, count, out);
  } else if (rows_four) {
    packed_pairs<true, false>(xb, cb, d, cnorm, rows, cols, count, out);
  } else if (cols_four) {
    packed_pairs<false, true>(xb, cb, d, cnorm, rows, cols, count, out);
  } else {
    packed_pairs<false, false>(xb, cb, d, cnorm, rows, cols, count, out);
  }
}

void canonical_row_norms(const float* x, size_t m, size_t d, float* out) {
  constexpr size_t G = kChains;
  for (size_t i = 0; i < m; i += G) {
    const float* xr[G];
    float v[G] = {};
    for (size_t g = 0; g < G; ++g) xr[g] = x + (i + g < m ? i + g : i) * d;
    // A multiply, then an add (no contraction in this project): packed_norms' sequence.
    skewed_chains(xr, xr, d, v, [](float acc, float a, float b) { return acc + a * b; });
    for (size_t g = 0; g < G && i + g < m; ++g) out[i + g] = v[g];
  }
}

void bf16_pivots(const float* scores, size_t m, size_t kp, size_t k, const float* cn, uint32_t* out) {
  const __m512i step = _mm512_set1_epi32(16);
  for (size_t r = 0; r < m; ++r) {
    const float* p = scores + r * kp;
    __m512 best = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    __m512i best_idx = _mm512_setzero_si512(),
            idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (size_t c = 0; c < k; c += 16) {
      const __mmask16 live = k - c >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (k - c)) - 1);
      const __m512 pv = _mm512_maskz_loadu_ps(live, p + c);
      const __m512 a = _mm512_sub_ps(_mm512_maskz_loadu_ps(live, cn + c), _mm512_add_ps(pv, pv));
      const __mmask16 lower = _mm512_mask_cmp_ps_mask(live, a, best, _CMP_LT_OQ);
      best = _mm512_mask_mov_ps(best, lower, a);
      best_idx = _mm512_mask_mov_epi32(best_idx, lower, idx);
      idx = _mm512_add_epi32(idx, step);
    }
    alignas(64) float bv[16];
    alignas(64) uint32_t bi[16];
    _mm512_store_ps(bv, best);
    _mm512_store_si512(reinterpret_cast<__m512i*>(bi), best_idx);
    float v = std::numeric_limits<float>::infinity();
    uint32_t label = 0;
    for (size_t l = 0; l < 16; ++l) {
      if (bv[l] < v || (bv[l] == v && bi[l] < label)) {
        v = bv[l];
        label = bi[l];
      }
    }
    out[r] = label;
  }
}

size_t indices_at_most(const float* v, size_t k, float limit, uint32_t* out, size_t cap) {
  const __m512 lim = _mm512_set1_ps(limit);
  const __m512i step = _mm512_set1_epi32(16);
  __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t count = 0;
  for (size_t c = 0; c < k; c += 16) {
    const __mmask16 live = k - c >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (k - c)) - 1);
    const __mmask16 hit = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, v + c), lim, _CMP_LE_OQ);
    if (hit) {
      const size_t n = static_cast<size_t>(__builtin_popcount(hit));
      if (count + n > cap) return cap + 1;
      alignas(64) uint32_t found[16];
      _mm512_mask_compressstoreu_epi32(found, hit, idx);
      std::copy_n(found, n, out + count);
      count += n;
    }
    idx = _mm512_add_epi32(idx, step);
  }
  return count;
}

}  // namespace lancer::simd
