#include "simd/bf16_scores.h"

#include <cstdlib>
#include <cstring>

#include "simd/level.h"

namespace lancer::simd {

bool bf16_scores_available() {
  static const bool available = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) return false;
#else
    return false;
#endif
    if (best_simd_level() != SimdLevel::kAvx512) return false;
    const char* env = std::getenv("LANCER_BF16");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return available;
}

}  // namespace lancer::simd
