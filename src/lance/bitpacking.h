// FastLanes "inline bitpacking" as Lance 2.1+ writes it (format notes 2.8.3):
// blocks of 1024 values of T bits, each a T-bit word holding the packed width W
// followed by 1024*W/T words. Used for definition levels and index `_rowid`s.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lancer/status.h"

namespace lancer::lance {

// Unpacks `count` values of type T from `size` bytes at `data` into `out`.
// Returns the bytes consumed (whole blocks); Corruption if the input is short
// or a width exceeds the type.
template <typename T>
Result<size_t> unpack_inline_bitpacked(const uint8_t* data, size_t size, size_t count, T* out);

// "Out-of-line" bitpacking: the width W is in the encoding, not the data.
// Each full block of 1024 values is 1024*W/T packed words (same FastLanes
// layout, no width word); a tail of r < 1024 values is one more packed block
// when that is smaller (W*(1024-r) < (T-W)*r), else r raw T-bit words.
template <typename T>
Status unpack_out_of_line_bitpacked(const uint8_t* data, size_t size, size_t count, size_t width, T* out);

}  // namespace lancer::lance
