// Test data for the linalg tests: n standard-normal floats from a seed.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace lancer::linalg {

inline std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

}  // namespace lancer::linalg
