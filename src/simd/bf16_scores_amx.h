// bf16_scores on AMX tiles (`tdpbf16ps`: a 16 x 16 block of float sums over
// 32 bfloat16 products per instruction, against 16 x 2 for `vdpbf16ps`). The
// same packed rows and panels as the AVX-512 kernel; only the order of the
// float sums differs, which the proposal's bound leaves to the hardware.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lancer::simd {

// This CPU has AMX-BF16, Linux lets the process use the tile registers, the
// bfloat16 proposal is available and LANCER_AMX is not "0".
bool amx_bf16_available();

// The n rows' scores, as bf16_scores writes them, when pairs is a multiple of
// 16; false (nothing written) otherwise.
bool bf16_scores_amx(const uint32_t* rows, size_t n, const uint32_t* panels, size_t kp, size_t pairs, float* out);

}  // namespace lancer::simd
