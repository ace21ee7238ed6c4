// FNV-1a 64-bit checksum for the small files lancer owns (build records,
// model files, spill footers): catches torn or damaged writes, not attacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lancer::core {

inline uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
inline uint64_t fnv1a64(std::string_view s) { return fnv1a64(s.data(), s.size()); }

}  // namespace lancer::core
