// Portable 32-bit Roaring bitmaps (RoaringFormatSpec), via CRoaring: index
// fragment bitmaps and deletion .bin files. Reading accepts cookies 12346 and
// 12347 (run containers); writing emits 12346 only, which Lance 10 reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::lance {

// Sorted, unique values. `what` names the source in errors ("fragment bitmap of index x").
Result<std::vector<uint32_t>> roaring_decode(const uint8_t* data, size_t size, const std::string& what);
// Array and bitmap containers only (cookie 12346). Values need not be sorted.
std::string roaring_encode(const std::vector<uint32_t>& values);

}  // namespace lancer::lance
