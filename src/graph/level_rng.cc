#include "graph/level_rng.h"

#include <cmath>

#include "core/xoshiro.h"

namespace lancer::graph {

namespace {

constexpr uint64_t kLevelSeed = 42;  // Lance's HNSW_LEVEL_RNG_SEED

// Xoshiro256++ as rand 0.9 seeds it from a u64 (SmallRng on 64-bit targets).
class SmallRng {
 public:
  explicit SmallRng(uint64_t seed) {
    for (uint64_t& word : s_) word = core::splitmix64(seed);
  }
  uint64_t next_u64() {
    const uint64_t result = core::rotl64(s_[0] + s_[3], 23) + s_[0];
    core::xoshiro256_step(s_);
    return result;
  }
  // rand's next_u32 keeps the high half: the low bits are the weaker ones.
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  // StandardUniform<f32>: 24 random bits scaled into [0, 1).
  float next_f32() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }

 private:
  uint64_t s_[4];
};

}  // namespace

std::vector<uint16_t> hnsw_levels(uint32_t num_nodes, uint32_t m, uint32_t max_level) {
  SmallRng rng(kLevelSeed);
  // f32 throughout, as Lance computes it; logf is the same libm call Rust's f32::ln makes.
  const float ml = 1.0f / std::log(static_cast<float>(m));
  const uint32_t cap = max_level - 1;
  std::vector<uint16_t> levels(num_nodes);
  for (uint32_t i = 0; i < num_nodes; ++i) {
    const float level = -std::log(rng.next_f32()) * ml;  // u = 0 gives +inf: Rust's `as u16` saturates
    levels[i] = static_cast<uint16_t>(level >= static_cast<float>(cap) ? cap : static_cast<uint32_t>(level));
  }
  return levels;
}

uint32_t hnsw_entry_point(const std::vector<uint16_t>& levels) {
  uint32_t entry = 0;
  uint16_t highest = 0;
  for (uint32_t i = 0; i < levels.size(); ++i) {
    if (levels[i] > highest) {
      highest = levels[i];
      entry = i;
    }
  }
  return entry;
}

}  // namespace lancer::graph
