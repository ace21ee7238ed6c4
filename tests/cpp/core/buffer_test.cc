#include "core/buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

namespace lancer::core {
namespace {

// The VMA flags of the mapping that holds `p` ("hg" = MADV_HUGEPAGE), from /proc/self/smaps.
std::string vm_flags_at(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= addr && addr < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

TEST(Buffer, LargeBuffersAreHugePageAlignedAndAdvised) {
  UninitVector<float> big(kHugePageBufferBytes / sizeof(float) + 3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % (size_t{2} << 20), 0u);
  EXPECT_NE(vm_flags_at(big.data()).find(" hg"), std::string::npos) << vm_flags_at(big.data());
  // Usable end to end, and grown and shrunk through both paths.
  std::iota(big.begin(), big.end(), 0.0f);
  EXPECT_EQ(big.back(), static_cast<float>(big.size() - 1));
  big.resize(10);
  big.shrink_to_fit();
  EXPECT_EQ(big[9], 9.0f);
  big.resize(kHugePageBufferBytes);
  EXPECT_EQ(big[9], 9.0f);
}

TEST(Buffer, SmallBuffersStayOrdinary) {
  ByteBuffer small(kHugePageBufferBytes - 1);
  EXPECT_EQ(vm_flags_at(small.data()).find(" hg"), std::string::npos);
  small[0] = 1;
  small.back() = 2;
  EXPECT_EQ(small[0] + small.back(), 3);
}

}  // namespace
}  // namespace lancer::core
