// SIMD levels and run-time detection: the only global state in lancer.
// The best level this CPU supports is detected once (cpuid) and may be capped
// by the environment variable LANCER_SIMD=scalar|avx2|avx512 (benchmarks,
// tests). Kernels are picked once per batch from this level. Thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace lancer::simd {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The level kernels use by default: detected, capped by LANCER_SIMD.
SimdLevel best_simd_level();
// What the CPU supports, ignoring LANCER_SIMD.
SimdLevel cpu_simd_level();
const char* simd_level_name(SimdLevel level);
std::optional<SimdLevel> parse_simd_level(std::string_view name);

}  // namespace lancer::simd
