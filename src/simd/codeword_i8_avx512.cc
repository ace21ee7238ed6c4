// AVX512-VNNI half of codeword_i8.h: integer proposals, candidates, and their
// canonical scores. The integer scores only choose which codewords get the
// canonical arithmetic.
#include <immintrin.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "simd/codeword_i8.h"
#include "simd/level.h"

namespace lancer::simd {
namespace {

constexpr size_t W = kCodewordBlock;
constexpr size_t kMaxKsub = 256;
constexpr size_t G = 8;         // candidates scored at once: independent chains cover the FMA latency
constexpr size_t kStep = 16;    // codewords per step of the integer pass
constexpr double kU = 0x1p-24;  // float32 unit roundoff

constexpr auto kIds = [] {
  std::array<int32_t, kMaxKsub> ids{};
  for (size_t c = 0; c < kMaxKsub; ++c) ids[c] = static_cast<int32_t>(c);
  return ids;
}();

double gamma(size_t n) {
  const double nu = static_cast<double>(n) * kU;
  return nu / (1 - nu);
}

// Canonical scores of candidates cand[0 .. G) (kernels.h: v = cnorm[c], then
// fma(x_j, cb[c][j], v) for j in order), each applied to its own lanes in
// candidate order: the first strict minimum wins, as in the canonical kernel.
template <size_t D, bool kSecond>
inline void exact_group(const __m512 (&x)[D], const CodewordSearch& a, const uint32_t* cand, const uint16_t* cmask,
                        __m512& best, __m512& second, __m512i& idx) {
  __m512 v[G];
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) v[g] = _mm512_set1_ps(a.cnorm[cand[g]]);
  for (size_t j = 0; j < D; ++j) {
#pragma GCC unroll 8
    for (size_t g = 0; g < G; ++g) v[g] = _mm512_fmadd_ps(x[j], _mm512_set1_ps(a.cb[cand[g] * D + j]), v[g]);
  }
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) {
    const __mmask16 m = cmask[g];
    if (kSecond) second = _mm512_mask_min_ps(second, m, second, _mm512_max_ps(best, v[g]));
    const __mmask16 lt = _mm512_mask_cmp_ps_mask(m, v[g], best, _CMP_LT_OQ);
    best = _mm512_mask_mov_ps(best, lt, v[g]);
    idx = _mm512_mask_mov_epi32(idx, lt, _mm512_set1_epi32(static_cast<int>(cand[g])));
  }
}

// The bound, per point x (lane) and codeword c, with x' = fl(x - shift),
// x'_j = (x_q + e_x) / invx, c'_j = (c_q + e_c) / invc exactly (|e_x| <= 1/2 +
// 127 u for the float product and the clamp, |e_c| <= ec), mu = invx invc / 2:
//   mu (|c'|^2 - 2 x'.c') = mu cn' - sum x_q c_q - R,
//   |R| <= ec |x_q|_1 + ex |c_q|_1 + d ex ec;
// S_c = K_c - sum x_q c_q with K_c = rint(fl(cn'_c fl(mu))) is off from the
// first term by at most 1/2 + 4u max K (the roundings of mu, the product and
// cn'). The float shift moves |x - c|^2 by at most 2.02 u (|x'| + |c'|)^2, the
// canonical score is within gamma_{d+1} (2 |c|^2 + 2 |x| |c|) (kernels.h).
// So every S_c is within M (in units of 1 / mu) of the exact score up to a
// per-point constant, and M is rounded up to an integer: thresholds and
// comparisons are then exact integer arithmetic.
// kWide: int16 proposals (+-2047, two products a vpdpwssd lane), and lanes whose winner they
// prove take bounds instead of canonical scores (CodewordSearch::bounds_suffice).
template <size_t D, bool kSecond, bool kWide>
void search(const CodewordSearch& a, const I8Codebook& bk) {
  constexpr size_t Q = kWide ? D / 2 : D / 4;  // dwords a point: int16 pairs or int8 quads
  const CodewordLevels& lv = kWide ? bk.q16 : bk.q8;
  const size_t K = a.ksub;
  const float inf = std::numeric_limits<float>::infinity();
  alignas(64) int32_t sc[kMaxKsub * W];            // the proposals S_c of the block, [c][lane]
  alignas(64) int32_t gmin[kMaxKsub / kStep * W];  // each step's smallest proposal, [step][lane]
  alignas(64) int32_t init[kMaxKsub];              // K_c + 128 sum c_q
  uint32_t cand[kMaxKsub + G];                     // candidate codewords, increasing
  uint16_t cmask[kMaxKsub + G];                    // the lanes each is a candidate for
  const __m512 limit = _mm512_set1_ps(0x1p60f), up = _mm512_set1_ps(1 + 0x1p-16f);
  const uint32_t* quads = kWide ? bk.pairs.data() : bk.quads.data();
  const __m512i lane_iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const double gc = gamma(D + 1);
  const float ex = kWide ? 0.5f + 0x1p-12f : 0.5f + 0x1p-16f;  // rounding to an integer, the product's levels u
  const float fixed = static_cast<float>((ex * lv.l1max + D * ex * lv.ec) * (1 + 0x1p-10));
  // A block outside the bound's range: the canonical kernel, alone.
  auto exact_block = [&a](const float* xt, size_t blk) {
    CodewordSearch one = a;
    one.xt = xt;
    one.num_blocks = 1;
    one.best_idx = a.best_idx + blk * W;
    one.best = a.best + blk * W;
    if (kSecond) one.second = a.second + blk * W;
    kernels_for(SimdLevel::kAvx512).nearest_codeword(one);
  };
  for (size_t blk = 0; blk < a.num_blocks; ++blk) {
    const float* xt = a.xt + blk * D * W;
    __m512 s[D];
    __m512 n2 = _mm512_setzero_ps(), np2 = n2, amax = n2;
    for (size_t j = 0; j < D; ++j) {
      const __m512 x = _mm512_loadu_ps(xt + j * W);
      s[j] = _mm512_sub_ps(x, _mm512_set1_ps(bk.shift[j]));
      n2 = _mm512_fmadd_ps(x, x, n2);
      np2 = _mm512_fmadd_ps(s[j], s[j], np2);
      amax = _mm512_max_ps(amax, _mm512_abs_ps(s[j]));
    }
    const __m512 nx = _mm512_mul_ps(_mm512_sqrt_ps(n2), up), nxp = _mm512_mul_ps(_mm512_sqrt_ps(np2), up);
    const float mx = _mm512_reduce_max_ps(amax);
    const float invx = mx > 0 ? lv.levels / mx : 1.0f;
    const float mu = invx * lv.inv_scale * 0.5f;
    const double kmax = static_cast<double>(bk.cp) * bk.cp * mu * (1 + 0x1p-20);
    if (!bk.usable || !(mx < 0x1p60f) || !(kmax < 0x1p28) || !std::isfinite(mu) ||
        _mm512_cmp_ps_mask(nx, limit, _CMP_LT_OQ) != 0xffff || _mm512_cmp_ps_mask(nxp, limit, _CMP_LT_OQ) != 0xffff) {
      // Out of the bound's range (or not finite): this block the canonical way.
      exact_block(xt, blk);
      continue;
    }
    // The points as unsigned bytes x_q + 128, four components a dword (int16: x_q, two a
    // dword), and |x_q|_1.
    constexpr size_t B = D / Q;  // components a dword
    __m512i xq[Q];
    __m512i l1 = _mm512_setzero_si512();
    const __m512 vinv = _mm512_set1_ps(invx);
    const __m512i top = _mm512_set1_epi32(static_cast<int>(lv.levels));
    for (size_t m = 0; m < Q; ++m) {
      __m512i packed = _mm512_setzero_si512();
      for (size_t b = 0; b < B; ++b) {
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(s[B * m + b], vinv));  // round to nearest even
        q = _mm512_max_epi32(_mm512_min_epi32(q, top), _mm512_sub_epi32(_mm512_setzero_si512(), top));
        l1 = _mm512_add_epi32(l1, _mm512_abs_epi32(q));
        packed = kWide ? _mm512_or_si512(packed, _mm512_slli_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0xffff)), 16 * b))
                       : _mm512_or_si512(packed, _mm512_slli_epi32(_mm512_add_epi32(q, _mm512_set1_epi32(128)), 8 * b));
      }
      xq[m] = packed;
    }
    // K_c (int8: + 128 sum c_q) for this block's mu.
    const __m512 vmu = _mm512_set1_ps(mu);
    for (size_t k = 0; k < K; k += 16) {
      const __m512i kc = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(bk.cn.data() + k), vmu));
      _mm512_store_si512(init + k, kWide ? kc : _mm512_add_epi32(kc, _mm512_loadu_si512(bk.qsum.data() + k)));
    }
    // The margin M per lane, in units of 1 / mu, rounded up to an integer.
    const double ea = 2.02 * kU, eb = 2 * gc * bk.cmax, ec2 = 2 * gc * static_cast<double>(bk.cmax) * bk.cmax;
    const __m512 t = _mm512_add_ps(nxp, _mm512_set1_ps(bk.cp));
    __m512 real = _mm512_fmadd_ps(_mm512_mul_ps(t, t), _mm512_set1_ps(static_cast<float>(ea * (1 + 0x1p-10))),
                                  _mm512_set1_ps(static_cast<float>(ec2 * (1 + 0x1p-10))));
    real = _mm512_fmadd_ps(nx, _mm512_set1_ps(static_cast<float>(eb * (1 + 0x1p-10))), real);
    __m512 mf = _mm512_mul_ps(real, _mm512_set1_ps(mu * (1 + 0x1p-10f)));
    mf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(l1), _mm512_set1_ps(lv.ec * (1 + 0x1p-10f)), mf);
    mf = _mm512_add_ps(mf, _mm512_set1_ps(fixed + 0.5f + static_cast<float>(4 * kU * kmax) + 1.0f));
    mf = _mm512_mul_ps(mf, _mm512_set1_ps(1 + 0x1p-10f));
    if (_mm512_cmp_ps_mask(mf, _mm512_set1_ps(0x1p26f), _CMP_LT_OQ) != 0xffff) {
      exact_block(xt, blk);
      continue;
    }
    const __m512i m2 = _mm512_slli_epi32(_mm512_cvt_roundps_epi32(mf, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC), 1);

    // Pass 1: every codeword's proposal, and each lane's two smallest.
    __m512i amin = _mm512_set1_epi32(std::numeric_limits<int32_t>::max()), amin2 = amin;
    for (size_t k = 0; k < K; k += kStep) {
      __m512i acc[kStep];
#pragma GCC unroll 16
      for (size_t g = 0; g < kStep; ++g) acc[g] = _mm512_set1_epi32(init[k + g]);
#pragma GCC unroll 8
      for (size_t m = 0; m < Q; ++m) {
#pragma GCC unroll 16
        for (size_t g = 0; g < kStep; ++g) {
          const __m512i c = _mm512_set1_epi32(static_cast<int>(quads[(k + g) * Q + m]));
          acc[g] = kWide ? _mm512_dpwssd_epi32(acc[g], xq[m], c) : _mm512_dpbusd_epi32(acc[g], xq[m], c);
        }
      }
      if constexpr (kWide) {
        // Keys: the proposal's low 8 bits replaced by the codeword, so that the smallest key names
        // its codeword (T_c = S_c & ~255 is within 256 of S_c; the smallest id wins equal T_c).
#pragma GCC unroll 16
        for (size_t g = 0; g < kStep; ++g)  // the id from memory: a broadcast load, not a port-5 move
          acc[g] = _mm512_or_si512(_mm512_and_si512(acc[g], _mm512_set1_epi32(~0xff)), _mm512_set1_epi32(kIds[k + g]));
      }
      __m512i lo[kStep / 2], hi[kStep / 2];
#pragma GCC unroll 16
      for (size_t g = 0; g < kStep; ++g) _mm512_store_si512(sc + (k + g) * W, acc[g]);
#pragma GCC unroll 8
      for (size_t g = 0; g < kStep / 2; ++g) {
        lo[g] = _mm512_min_epi32(acc[2 * g], acc[2 * g + 1]);
        hi[g] = _mm512_max_epi32(acc[2 * g], acc[2 * g + 1]);
      }
      // (No unroll pragma here: the bound varies, and -O1 builds (ASan) reject the annotation;
      // -O2 and up unroll this constant-trip nest anyway.)
      for (size_t w = kStep / 2; w > 1; w /= 2) {
        for (size_t g = 0; g < w / 2; ++g) {
          if (kSecond) {
            hi[g] = _mm512_min_epi32(_mm512_max_epi32(lo[2 * g], lo[2 * g + 1]),
                                     _mm512_min_epi32(hi[2 * g], hi[2 * g + 1]));
          }
          lo[g] = _mm512_min_epi32(lo[2 * g], lo[2 * g + 1]);
        }
      }
      _mm512_store_si512(gmin + (k / kStep) * W, lo[0]);
      if (kSecond) amin2 = _mm512_min_epi32(_mm512_max_epi32(amin, lo[0]), _mm512_min_epi32(amin2, hi[0]));
      amin = _mm512_min_epi32(amin, lo[0]);
    }
    // Candidates: S_c <= smallest (with `second`: second smallest) + 2M. kWide: the minima are
    // keys, T = key & ~255 <= S < T + 256; a lane whose second smallest T is above its smallest
    // T + 255 + 2M has a proven winner (every other canonical score is strictly above its): the
    // smallest key's codeword. The other lanes' candidates are the keys with T <= T_2 + 255 + 2M.
    __m512i thr = _mm512_add_epi32(kSecond ? amin2 : amin, m2);
    __mmask16 certain = 0;
    __m512i tmin = amin, t2 = amin2;
    if constexpr (kWide) {
      const __m512i low = _mm512_set1_epi32(0xff);
      tmin = _mm512_andnot_si512(low, amin);
      t2 = _mm512_andnot_si512(low, amin2);
      const __m512i reach = _mm512_add_epi32(m2, low);
      certain = _mm512_cmp_epi32_mask(t2, _mm512_add_epi32(tmin, reach), _MM_CMPINT_GT);
      thr = _mm512_mask_mov_epi32(_mm512_or_si512(_mm512_add_epi32(t2, reach), low), certain,
                                  _mm512_set1_epi32(std::numeric_limits<int32_t>::min()));
    }

    // Pass 2: the candidates, from the steps whose smallest proposal is at most the threshold in some lane.
    // A step's 16 lane masks are joined in mask registers and moved to a vector four at a time, and the
    // codewords with a lane kept are compressed out of it: no per-codeword moves, stores or counts.
    size_t nc = 0;
    for (size_t k0 = 0; k0 < (kWide && certain == 0xffff ? 0 : K); k0 += kStep) {
      if (_mm512_cmp_epi32_mask(_mm512_load_si512(gmin + (k0 / kStep) * W), thr, _MM_CMPINT_LE) == 0) continue;
      uint64_t quad[kStep / 4];
#pragma GCC unroll 4
      for (size_t q = 0; q < kStep / 4; ++q) {
        const int32_t* at = sc + (k0 + 4 * q) * W;
        const __mmask32 m01 = _mm512_kunpackw(_mm512_cmp_epi32_mask(_mm512_load_si512(at + W), thr, _MM_CMPINT_LE),
                                              _mm512_cmp_epi32_mask(_mm512_load_si512(at), thr, _MM_CMPINT_LE));
        const __mmask32 m23 = _mm512_kunpackw(_mm512_cmp_epi32_mask(_mm512_load_si512(at + 3 * W), thr, _MM_CMPINT_LE),
                                              _mm512_cmp_epi32_mask(_mm512_load_si512(at + 2 * W), thr, _MM_CMPINT_LE));
        quad[q] = _cvtmask64_u64(_mm512_kunpackd(m23, m01));  // codeword k0 + 4q + i in bits 16i..
      }
      const __m256i masks = _mm256_set_epi64x(static_cast<long long>(quad[3]), static_cast<long long>(quad[2]),
                                              static_cast<long long>(quad[1]), static_cast<long long>(quad[0]));
      const __mmask16 live = _mm256_test_epi16_mask(masks, masks);
      const __m512i wide = _mm512_maskz_compress_epi32(live, _mm512_cvtepu16_epi32(masks));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cmask + nc), _mm512_cvtepi32_epi16(wide));
      _mm512_storeu_si512(cand + nc, _mm512_maskz_compress_epi32(
                                         live, _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(k0)), lane_iota)));
      nc += static_cast<size_t>(__builtin_popcount(live));
    }
    for (size_t g = 0; g < G; ++g) {  // padding: no lanes
      cand[nc + g] = 0;
      cmask[nc + g] = 0;
    }

    // Proven lanes: the smallest key's codeword; the candidates are the other lanes'.
    __m512i idx = _mm512_maskz_and_epi32(certain, amin, _mm512_set1_epi32(0xff));
    // Pass 3: canonical scores of the candidates.
    __m512 x[D];
    for (size_t j = 0; j < D; ++j) x[j] = _mm512_loadu_ps(xt + j * W);
    __m512 best = _mm512_set1_ps(inf), second = best;
    for (size_t t0 = 0; t0 < nc; t0 += G) exact_group<D, kSecond>(x, a, cand + t0, cmask + t0, best, second, idx);
    if (certain) {
      // Bounds from S for the proven lanes: the real v_c = |x - c|^2 - |x|^2 lies within
      // (S_c -+ M) / mu + |x'|^2 - |x|^2 (M covers the proposal's and the shift's errors, and the
      // canonical error besides). Slack 2^-17 of the magnitudes covers the float norms (gamma_16),
      // the conversions and the product.
      const __m512i mi = _mm512_srli_epi32(m2, 1);
      const __m512 inv_mu = _mm512_set1_ps(1.0f / mu), rel = _mm512_set1_ps(0x1p-17f);
      const __m512 dx = _mm512_sub_ps(np2, n2), mag = _mm512_add_ps(np2, n2);
      const __m512 hi = _mm512_mul_ps(
          _mm512_cvtepi32_ps(_mm512_add_epi32(tmin, _mm512_add_epi32(mi, _mm512_set1_epi32(0xff)))), inv_mu);
      const __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(t2, mi)), inv_mu);
      const __m512 best_up = _mm512_fmadd_ps(_mm512_add_ps(_mm512_abs_ps(hi), mag), rel, _mm512_add_ps(hi, dx));
      const __m512 second_down = _mm512_fnmadd_ps(_mm512_add_ps(_mm512_abs_ps(lo), mag), rel, _mm512_add_ps(lo, dx));
      best = _mm512_mask_mov_ps(best, certain, best_up);
      second = _mm512_mask_mov_ps(second, certain, second_down);
    }
    _mm512_storeu_si512(a.best_idx + blk * W, idx);
    _mm512_storeu_ps(a.best + blk * W, best);
    if (kSecond) _mm512_storeu_ps(a.second + blk * W, second);
  }
}

}  // namespace

void nearest_codewords_i8(const CodewordSearch& a, const I8Codebook& book) {
  const bool wide = a.second && a.bounds_suffice;
  auto run = [&]<size_t D>() {
    if (wide) {
      search<D, true, true>(a, book);
    } else if (a.second) {
      search<D, true, false>(a, book);
    } else {
      search<D, false, false>(a, book);
    }
  };
  a.dsub == 16 ? run.template operator()<16>() : run.template operator()<8>();
}

}  // namespace lancer::simd
