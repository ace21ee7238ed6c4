// The parts of the xoshiro256 generators both users share: SplitMix64, which seeds them, and the
// state step. The output functions stay with their users: xoshiro256** for lancer's training
// (train/random.h), xoshiro256++ for Lance's HNSW levels (graph/level_rng.cc). Pure functions.
#pragma once

#include <cstdint>

namespace lancer::core {

inline uint64_t rotl64(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// The next SplitMix64 output; advances `state`.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One step of the xoshiro256 state (after the output was taken from it).
inline void xoshiro256_step(uint64_t (&s)[4]) {
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
}

}  // namespace lancer::core
