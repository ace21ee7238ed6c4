// Nearest codeword for PQ sub-vectors of 8 or 16 floats with bfloat16
// proposals (AVX512-BF16), decided exactly: every codeword of a block of 16
// points is scored with bfloat16 products (`vdpbf16ps`, twice the float32
// multiply rate), the codewords that a proven error bound cannot exclude are
// scored with the canonical FMA chain of CodewordSearch (kernels.h), and the
// first strict minimum among them is the answer. So labels and best scores are
// the canonical kernel's bit for bit, on any machine (the scalar and AVX2
// levels never get here). docs/decisions/pq-training.md, "bfloat16 proposals".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd/kernels.h"

namespace lancer::simd {

// The codebook as the bfloat16 pass reads it. The bound, per point x and
// codeword c (x' = x - shift, c' = c - shift, shift = the codewords' mean):
// the proposal a_c = |c'|^2 - 2 x'.c' (bfloat16 products, float sums) and the
// canonical v_c = |c|^2 - 2 x.c (kernels.h) differ from the exact values, up
// to one constant per point, by at most
//   M = alpha |x'| + beta |x| + eta
// (uniform over c: alpha, beta, eta from the largest |c'| and |c|).
struct Bf16Codebook {
  size_t ksub = 0, dsub = 0;
  bool usable = false;          // finite, and small enough that no bfloat16 sum can overflow
  std::vector<float> shift;     // [dsub]
  std::vector<uint32_t> pairs;  // [ksub][dsub / 2]: -2 c' as bfloat16 pairs (component 2j low, 2j + 1 high)
  std::vector<float> cn;        // [ksub]: |c'|^2
  float alpha = 0, beta = 0, eta = 0;
};

// True when this machine runs the bfloat16 search (bf16_scores_available())
// and it serves this shape: dsub 8 or 16, ksub a multiple of 16 in [16, 256].
bool codeword_bf16_supported(size_t ksub, size_t dsub);

// Whether callers should use it: supported and faster than the canonical
// kernel. Measured on AMD EPYC (Zen, AVX512-BF16), one thread: dsub 8 1.3-1.5
// vs 1.9-2.0 ms per 65,536 points x 256 codewords; dsub 16 2.0-2.2 vs 2.3-2.4 ms
// in isolation but no gain in PQ training (the canonical kernel is at the FMA
// peak, and vdpbf16ps issues no faster than vfmadd231ps here), so dsub 8 only.
bool codeword_bf16_worthwhile(size_t ksub, size_t dsub);

// Builds `out` from the unscaled codebook [ksub][dsub].
void prepare_codewords_bf16(const float* codebook, size_t ksub, size_t dsub, Bf16Codebook* out);

// Bit for bit what nearest_codewords(args) writes (best_idx, best and, when
// given, second), for a codebook that `book` was prepared from (args.cb,
// args.cnorm from prepare_codewords). The candidates of a point are the
// codewords with a_c <= (smallest a, or second smallest with `second`) + 2M:
// they hold the canonical winner (and second), and every other codeword's
// canonical score is strictly above them, so ties are settled among them in
// codeword order. Blocks whose values are too large for the bound go to the
// canonical kernel. Needs codeword_bf16_supported(ksub, dsub).
void nearest_codewords_bf16(const CodewordSearch& args, const Bf16Codebook& book);

}  // namespace lancer::simd
