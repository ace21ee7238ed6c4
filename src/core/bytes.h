// Little-endian loads from byte buffers, with no alignment assumptions.
#pragma once

#include <cstdint>
#include <cstring>

namespace lancer::core {

template <typename T>
inline T load_le(const uint8_t* p) {
  static_assert(std::is_trivially_copyable_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86-64 and aarch64 Linux are little-endian
  return v;
}

}  // namespace lancer::core
