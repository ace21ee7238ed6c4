// Nearest codeword for PQ sub-vectors of 8 or 16 floats with int8 proposals
// (AVX512-VNNI `vpdpbusd`: four products per instruction, against one per
// lane for the float32 FMA), decided exactly: for a block of 16 points every
// codeword gets an integer score S_c from the points and codewords quantized
// to int8; a proven bound M on |S_c - mu (|x - c|^2 + const)| keeps the
// codewords with S_c <= (smallest S, or second smallest when the second score
// is asked for) + 2M as candidates, and only those get the canonical FMA chain
// of CodewordSearch (kernels.h), in codeword order. The candidates hold the
// canonical winner (and second), and every other codeword's canonical score
// is strictly above them, so the results are the canonical kernel's bit for
// bit on any machine (the scalar and AVX2 levels never get here).
// docs/decisions/pq-training.md, "int8 proposals".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "simd/kernels.h"

namespace lancer::simd {

// One quantization of the codebook: c_q = round(c' / sc) in [-levels, levels],
// one scale for the whole codebook.
struct CodewordLevels {
  float levels = 0;     // 127 (int8) or 2047 (int16)
  float inv_scale = 0;  // 1 / sc, the float the codewords were divided by
  float ec = 0;         // max |c' inv_scale - c_q| (<= 1/2)
  float l1max = 0;      // max over codewords of sum_j |c_q|
};

// The codebook quantized twice, c' = c - shift (shift = the codewords' mean,
// float subtraction): int8 for labels alone (four products a vpdpbusd lane),
// int16 (+-2047) where k-means' bounds suffice: a 16 times tighter bound
// proves most points' nearest codeword with no canonical score at all.
struct I8Codebook {
  size_t ksub = 0, dsub = 0;
  bool usable = false;
  std::vector<float> shift;     // [dsub]
  std::vector<float> cn;        // [ksub]: |c'|^2 rounded to float
  float cp = 0, cmax = 0;       // max |c'|, max |c| (rounded up)
  CodewordLevels q8, q16;
  std::vector<uint32_t> quads;  // [ksub][dsub / 4]: -c_q (int8), 4 a dword (component 4m in the low byte)
  std::vector<int32_t> qsum;    // [ksub]: 128 * sum_j c_q (int8; undoes vpdpbusd's unsigned offset)
  std::vector<uint32_t> pairs;  // [ksub][dsub / 2]: -c_q (int16), 2 a dword (component 2m in the low half)
};

// This machine has AVX512-VNNI at the AVX-512 level and the shape is served
// (dsub 8 or 16, ksub a multiple of 16 in [16, 256]).
bool codeword_i8_supported(size_t ksub, size_t dsub);

void prepare_codewords_i8(const float* codebook, size_t ksub, size_t dsub, I8Codebook* out);

// Bit for bit what nearest_codewords(args) writes (best_idx, best and, when
// given, second), for a codebook that `book` was prepared from (args.cb,
// args.cnorm from prepare_codewords). With args.bounds_suffice and second:
// the same labels, and bounds where the int16 proposals prove the label
// (kernels.h). Blocks whose values are out of the bound's range go to the
// canonical kernel. Needs codeword_i8_supported.
void nearest_codewords_i8(const CodewordSearch& args, const I8Codebook& book);

}  // namespace lancer::simd
