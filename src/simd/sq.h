// 8-bit scalar quantisation codes, bit-exact with Lance (lance-format.md 5.6):
//   code = saturate_u8(trunc((double(x) - start) * 255.0 / (end - start))),
//   NaN -> 0, and every code is 0 when start == end. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/level.h"

namespace lancer::simd {

void sq_encode(const float* x, size_t n, double start, double end, uint8_t* out, SimdLevel level = best_simd_level());

}  // namespace lancer::simd
