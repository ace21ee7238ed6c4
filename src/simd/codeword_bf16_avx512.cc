// AVX512-BF16 half of codeword_bf16.h: the bfloat16 pass, the candidates and
// their canonical scores. Only the bfloat16 sums are inexact, and they only
// choose which codewords get the canonical arithmetic.
#include <immintrin.h>

#include <cstdint>
#include <limits>

#include "simd/codeword_bf16.h"
#include "simd/level.h"

namespace lancer::simd {
namespace {

constexpr size_t W = kCodewordBlock;
constexpr size_t kMaxKsub = 256;
constexpr size_t G = 8;         // candidates scored at once: independent chains cover the FMA latency
constexpr size_t kPass1 = 16;  // codewords per step of the bfloat16 pass, for the same reason

// vdpbf16ps multiplies bfloat16 elements 2i and 2i + 1 of dword lane i: lane i
// (point i) must hold components 2j and 2j + 1. cvtne2ps_pbh(hi, lo) puts lo in
// elements 0..15 and hi in 16..31; this permutation interleaves them.
alignas(64) constexpr uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                  8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

inline __m512 abs_ps(__m512 v) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

// Canonical scores of candidates cand[t .. t + G) (kernels.h: v = cnorm[c], then
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

template <size_t D, bool kSecond>
void search(const CodewordSearch& a, const Bf16Codebook& bk) {
  constexpr size_t P = D / 2;
  const size_t K = a.ksub;
  const float inf = std::numeric_limits<float>::infinity();
  alignas(64) float sc[kMaxKsub * W];               // the proposals a_c of the block, [c][lane]
  alignas(64) float gmin[kMaxKsub / kPass1 * W];  // each step's smallest proposal, [step][lane]
  uint32_t cand[kMaxKsub + G];         // candidate codewords, increasing
  uint16_t cmask[kMaxKsub + G];        // the lanes each is a candidate for
  const __m512i perm = _mm512_load_si512(kInterleave);
  const __m512 alpha = _mm512_set1_ps(bk.alpha), beta = _mm512_set1_ps(bk.beta), eta = _mm512_set1_ps(bk.eta);
  const __m512 limit = _mm512_set1_ps(0x1p60f), up = _mm512_set1_ps(1 + 0x1p-16f);
  const uint32_t* pairs = bk.pairs.data();
  for (size_t blk = 0; blk < a.num_blocks; ++blk) {
    const float* xt = a.xt + blk * D * W;
    // The block as shifted bfloat16 pairs, and |x|, |x'| (rounded up) for the margin.
    __m512bh xb[P];
    __m512 n2 = _mm512_setzero_ps(), np2 = n2;
    for (size_t j = 0; j < P; ++j) {
      const __m512 x0 = _mm512_loadu_ps(xt + 2 * j * W), x1 = _mm512_loadu_ps(xt + (2 * j + 1) * W);
      const __m512 s0 = _mm512_sub_ps(x0, _mm512_set1_ps(bk.shift[2 * j]));
      const __m512 s1 = _mm512_sub_ps(x1, _mm512_set1_ps(bk.shift[2 * j + 1]));
      n2 = _mm512_fmadd_ps(x1, x1, _mm512_fmadd_ps(x0, x0, n2));
      np2 = _mm512_fmadd_ps(s1, s1, _mm512_fmadd_ps(s0, s0, np2));
      xb[j] = (__m512bh)_mm512_permutexvar_epi16(perm, (__m512i)_mm512_cvtne2ps_pbh(s1, s0));
    }
    const __m512 nx = _mm512_mul_ps(_mm512_sqrt_ps(n2), up), nxp = _mm512_mul_ps(_mm512_sqrt_ps(np2), up);
    if (!bk.usable || _mm512_cmp_ps_mask(nx, limit, _CMP_LT_OQ) != 0xffff ||
        _mm512_cmp_ps_mask(nxp, limit, _CMP_LT_OQ) != 0xffff) {
      // Too large for the bound (or not finite): this block the canonical way.
      CodewordSearch one = a;
      one.xt = xt;
      one.num_blocks = 1;
      one.best_idx = a.best_idx + blk * W;
      one.best = a.best + blk * W;
      if (kSecond) one.second = a.second + blk * W;
      kernels_for(SimdLevel::kAvx512).nearest_codeword(one);
      continue;
    }
    // 2M, M the margin of codeword_bf16.h, enlarged for its own float roundings.
    const __m512 m2 = _mm512_mul_ps(_mm512_fmadd_ps(nxp, alpha, _mm512_fmadd_ps(nx, beta, eta)),
                                    _mm512_set1_ps(2 * (1 + 0x1p-10f)));

    // Pass 1: every codeword's proposal, and each lane's two smallest.
    __m512 amin = _mm512_set1_ps(inf), amin2 = amin;
    for (size_t k = 0; k < K; k += kPass1) {
      __m512 acc[kPass1];
#pragma GCC unroll 16
      for (size_t g = 0; g < kPass1; ++g) acc[g] = _mm512_set1_ps(bk.cn[k + g]);
#pragma GCC unroll 8
      for (size_t j = 0; j < P; ++j) {
#pragma GCC unroll 16
        for (size_t g = 0; g < kPass1; ++g)
          acc[g] = _mm512_dpbf16_ps(acc[g], xb[j], (__m512bh)_mm512_set1_epi32(static_cast<int>(pairs[(k + g) * P + j])));
      }
      // The step's two smallest per lane by a tree (a running pair would chain
      // 32 dependent min / max operations), then merged into amin, amin2.
      __m512 lo[kPass1 / 2], hi[kPass1 / 2];
#pragma GCC unroll 16
      for (size_t g = 0; g < kPass1; ++g) _mm512_store_ps(sc + (k + g) * W, acc[g]);
#pragma GCC unroll 8
      for (size_t g = 0; g < kPass1 / 2; ++g) {
        lo[g] = _mm512_min_ps(acc[2 * g], acc[2 * g + 1]);
        hi[g] = _mm512_max_ps(acc[2 * g], acc[2 * g + 1]);
      }
      for (size_t w = kPass1 / 2; w > 1; w /= 2) {
#pragma GCC unroll 4
        for (size_t g = 0; g < w / 2; ++g) {
          if (kSecond) {
            hi[g] = _mm512_min_ps(_mm512_max_ps(lo[2 * g], lo[2 * g + 1]), _mm512_min_ps(hi[2 * g], hi[2 * g + 1]));
          }
          lo[g] = _mm512_min_ps(lo[2 * g], lo[2 * g + 1]);
        }
      }
      _mm512_store_ps(gmin + (k / kPass1) * W, lo[0]);
      if (kSecond) amin2 = _mm512_min_ps(_mm512_max_ps(amin, lo[0]), _mm512_min_ps(amin2, hi[0]));
      amin = _mm512_min_ps(amin, lo[0]);
    }
    // A codeword c is a candidate for a lane when a_c <= amin + 2M (rounded
    // up; with `second`, amin2 + 2M): the canonical winner (and second) always
    // is, and every other codeword's canonical score is strictly above the
    // winner's (and the second's).
    const __m512 base = kSecond ? amin2 : amin;
    const __m512 thr = _mm512_fmadd_ps(abs_ps(base), _mm512_set1_ps(0x1p-20f), _mm512_add_ps(base, m2));

    // Pass 2: the candidates, from the steps whose smallest proposal is below
    // the threshold in some lane.
    size_t nc = 0;
    for (size_t k0 = 0; k0 < K; k0 += kPass1) {
      if (_mm512_cmp_ps_mask(_mm512_load_ps(gmin + (k0 / kPass1) * W), thr, _CMP_LE_OQ) == 0) continue;
      for (size_t k = k0; k < k0 + kPass1; ++k) {
        const __mmask16 m = _mm512_cmp_ps_mask(_mm512_load_ps(sc + k * W), thr, _CMP_LE_OQ);
        cand[nc] = static_cast<uint32_t>(k);
        cmask[nc] = m;
        nc += m != 0;
      }
    }
    for (size_t g = 0; g < G; ++g) {  // padding: no lanes
      cand[nc + g] = 0;
      cmask[nc + g] = 0;
    }

    // Pass 3: canonical scores of the candidates.
    __m512 x[D];
    for (size_t j = 0; j < D; ++j) x[j] = _mm512_loadu_ps(xt + j * W);
    __m512 best = _mm512_set1_ps(inf), second = best;
    __m512i idx = _mm512_setzero_si512();
    for (size_t t = 0; t < nc; t += G)
      exact_group<D, kSecond>(x, a, cand + t, cmask + t, best, second, idx);
    _mm512_storeu_si512(a.best_idx + blk * W, idx);
    _mm512_storeu_ps(a.best + blk * W, best);
    if (kSecond) _mm512_storeu_ps(a.second + blk * W, second);
  }
}

}  // namespace

void nearest_codewords_bf16(const CodewordSearch& a, const Bf16Codebook& book) {
  if (a.dsub == 16) {
    a.second ? search<16, true>(a, book) : search<16, false>(a, book);
  } else {
    a.second ? search<8, true>(a, book) : search<8, false>(a, book);
  }
}

}  // namespace lancer::simd
