#include "lance/bitpacking.h"

#include <cstring>
#include <string>

namespace lancer::lance {

namespace {
constexpr size_t kBlockValues = 1024;
constexpr size_t kOrder[8] = {0, 4, 2, 6, 1, 5, 3, 7};
}  // namespace

// Unpacks one FastLanes block of 1024 values packed at `width` bits from
// `packed` (1024*width/T words of T bits) into `block`.
template <typename T>
void unpack_block(const uint8_t* packed, size_t width, T* block) {
  constexpr size_t kBits = sizeof(T) * 8;
  constexpr size_t kLanes = kBlockValues / kBits;
  auto word = [&](size_t i) {
    T w;
    std::memcpy(&w, packed + i * sizeof(T), sizeof(T));
    return w;
  };
  const T mask = width == kBits ? static_cast<T>(~T{0}) : static_cast<T>((T{1} << width) - 1);
  for (size_t lane = 0; lane < kLanes; ++lane) {
    for (size_t row = 0; row < kBits; ++row) {
      T v = 0;
      if (width != 0) {
        const size_t bit = row * width;
        const size_t k = bit / kBits, shift = bit % kBits;
        v = static_cast<T>(word(k * kLanes + lane) >> shift);
        if (shift + width > kBits) v |= static_cast<T>(word((k + 1) * kLanes + lane) << (kBits - shift));
        v &= mask;
      }
      block[kOrder[row / 8] * 16 + (row % 8) * 128 + lane] = v;
    }
  }
}

template <typename T>
Result<size_t> unpack_inline_bitpacked(const uint8_t* data, size_t size, size_t count, T* out) {
  constexpr size_t kBits = sizeof(T) * 8;
  size_t consumed = 0;
  T block[kBlockValues];
  for (size_t first = 0; first < count; first += kBlockValues) {
    if (size - consumed < sizeof(T)) {
      return Status::Corruption("bit-packed block at byte " + std::to_string(consumed) + " is truncated");
    }
    T width_word;
    std::memcpy(&width_word, data + consumed, sizeof(T));
    consumed += sizeof(T);
    const size_t width = static_cast<size_t>(width_word);
    if (width > kBits) {
      return Status::Corruption("bit-packed block claims width " + std::to_string(width) + " for " +
                                std::to_string(kBits) + "-bit values");
    }
    const size_t words = kBlockValues * width / kBits;
    if (size - consumed < words * sizeof(T)) {
      return Status::Corruption("bit-packed block of width " + std::to_string(width) + " is truncated");
    }
    unpack_block<T>(data + consumed, width, block);
    consumed += words * sizeof(T);
    const size_t n = count - first < kBlockValues ? count - first : kBlockValues;
    std::memcpy(out + first, block, n * sizeof(T));
  }
  return consumed;
}

template <typename T>
Status unpack_out_of_line_bitpacked(const uint8_t* data, size_t size, size_t count, size_t width, T* out) {
  constexpr size_t kBits = sizeof(T) * 8;
  if (width > kBits) {
    return Status::Corruption("bit width " + std::to_string(width) + " for " + std::to_string(kBits) + "-bit values");
  }
  const size_t block_bytes = kBlockValues * width / kBits * sizeof(T);
  const size_t full = count / kBlockValues, tail = count % kBlockValues;
  const bool packed_tail = tail > 0 && width * (kBlockValues - tail) < (kBits - width) * tail;
  const size_t expected = (full + (packed_tail ? 1 : 0)) * block_bytes + (tail > 0 && !packed_tail ? tail * sizeof(T) : 0);
  if (size != expected) {
    return Status::Corruption("bit-packed buffer is " + std::to_string(size) + " bytes, expected " +
                              std::to_string(expected) + " for " + std::to_string(count) + " values of " +
                              std::to_string(width) + " bits");
  }
  T block[kBlockValues];
  for (size_t b = 0; b < full; ++b) unpack_block<T>(data + b * block_bytes, width, out + b * kBlockValues);
  if (packed_tail) {
    unpack_block<T>(data + full * block_bytes, width, block);
    std::memcpy(out + full * kBlockValues, block, tail * sizeof(T));
  } else if (tail > 0) {
    std::memcpy(out + full * kBlockValues, data + full * block_bytes, tail * sizeof(T));
  }
  return Status::OK();
}

template Status unpack_out_of_line_bitpacked<uint16_t>(const uint8_t*, size_t, size_t, size_t, uint16_t*);
template Status unpack_out_of_line_bitpacked<uint64_t>(const uint8_t*, size_t, size_t, size_t, uint64_t*);
template Result<size_t> unpack_inline_bitpacked<uint8_t>(const uint8_t*, size_t, size_t, uint8_t*);
template Result<size_t> unpack_inline_bitpacked<uint16_t>(const uint8_t*, size_t, size_t, uint16_t*);
template Result<size_t> unpack_inline_bitpacked<uint32_t>(const uint8_t*, size_t, size_t, uint32_t*);
template Result<size_t> unpack_inline_bitpacked<uint64_t>(const uint8_t*, size_t, size_t, uint64_t*);

}  // namespace lancer::lance
