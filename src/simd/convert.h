// Stored vector elements (float32, float16, uint8) to float32: the element
// types a Lance vector column may hold, and the one conversion every reader of
// stored vectors (index build, search, export) needs. Stateless, thread-safe;
// `data` need not be aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "simd/distance.h"

namespace lancer::simd {

enum class ElementType { kFloat32, kFloat16, kUInt8 };

// `count` stored values (float32, float16 or uint8 bytes) as float32, in `out`.
inline void to_float32(const uint8_t* data, size_t count, ElementType element, std::vector<float>* out) {
  out->resize(count);
  switch (element) {
    case ElementType::kFloat32: std::memcpy(out->data(), data, count * 4); break;
    case ElementType::kFloat16: {
      // The kernel reads whole uint16s; copy out of the (unaligned) byte buffer first.
      std::vector<uint16_t> halves(count);
      std::memcpy(halves.data(), data, count * 2);
      f16_to_f32(halves.data(), count, out->data());
      break;
    }
    case ElementType::kUInt8:
      for (size_t i = 0; i < count; ++i) (*out)[i] = static_cast<float>(data[i]);
      break;
  }
}

}  // namespace lancer::simd
