// FastLanes bit unpacking on raw bytes: inline (a width word per 1024-value block) for 8-, 16-,
// 32- and 64-bit values, and out of line (the width from the encoding) for 16 and 64 bits. The
// first bytes pick the type, the value count and the out-of-line width.
#include <type_traits>
#include <vector>

#include "fuzz_support.h"
#include "lance/bitpacking.h"

namespace {

template <typename T>
void unpack(bool inline_width, size_t count, size_t width, const uint8_t* data, size_t size) {
  std::vector<T> out(count);
  // Out of line exists for the types Lance packs that way (u16 levels, u64 row ids).
  if (inline_width || !(std::is_same_v<T, uint16_t> || std::is_same_v<T, uint64_t>)) {
    (void)lancer::lance::unpack_inline_bitpacked<T>(data, size, count, out.data());
  } else {
    (void)lancer::lance::unpack_out_of_line_bitpacked<T>(data, size, count, width, out.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lancer::fuzz::Input in(data, size);
  const uint8_t mode = in.u8();
  const size_t count = in.u32() % 5000;  // several blocks and a tail
  const size_t width = in.u8();          // may exceed the type: must be refused
  const bool inline_width = mode & 1;
  switch ((mode >> 1) & 3) {
    case 0: unpack<uint8_t>(inline_width, count, width, in.rest(), in.rest_size()); break;
    case 1: unpack<uint16_t>(inline_width, count, width, in.rest(), in.rest_size()); break;
    case 2: unpack<uint32_t>(inline_width, count, width, in.rest(), in.rest_size()); break;
    default: unpack<uint64_t>(inline_width, count, width, in.rest(), in.rest_size()); break;
  }
  return 0;
}
