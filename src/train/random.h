// A small, portable, seedable random generator (SplitMix64 seeding a
// xoshiro256**) so that the same seed gives the same centroids on every
// platform and standard library. Not thread-safe: one generator per task.
#pragma once

#include <cstdint>
#include <vector>

#include "core/xoshiro.h"

namespace lancer::train {

__extension__ typedef unsigned __int128 Uint128;

using core::splitmix64;

// A seed for sub-problem `salt` of a training seeded with `seed`.
inline uint64_t derive_seed(uint64_t seed, uint64_t salt) {
  uint64_t s = seed ^ (salt * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
  return splitmix64(s);
}

class Random {
 public:
  explicit Random(uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = core::rotl64(s_[1] * 5, 7) * 9;
    core::xoshiro256_step(s_);
    return result;
  }
  // Uniform in [0, n), n > 0 (multiply-shift; bias below 2^-32 for n < 2^32).
  uint64_t uniform(uint64_t n) { return static_cast<uint64_t>((static_cast<Uint128>(next()) * n) >> 64); }
  // Uniform in [0, 1).
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

// k distinct indices drawn uniformly from [0, n) (k <= n), in draw order.
inline std::vector<uint32_t> sample_distinct(uint64_t n, uint64_t k, Random& rng) {
  std::vector<uint32_t> perm(n);
  for (uint64_t i = 0; i < n; ++i) perm[i] = static_cast<uint32_t>(i);
  for (uint64_t i = 0; i < k; ++i) {
    const uint64_t j = i + rng.uniform(n - i);
    std::swap(perm[i], perm[j]);
  }
  perm.resize(k);
  return perm;
}

}  // namespace lancer::train
