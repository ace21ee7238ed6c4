#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace lancer::core {
namespace {

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_half(f), h) << std::hex << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + 0x1p-11f), 0x3c00);        // halfway: keep the even mantissa
  EXPECT_EQ(float_to_half(1.0f + 3 * 0x1p-11f), 0x3c02);    // halfway: round up to even
  EXPECT_EQ(float_to_half(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(70000.0f), 0x7c00);
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  EXPECT_EQ(float_to_half(0x1p-25f), 0x0000);              // halfway to the smallest subnormal: even
  EXPECT_EQ(float_to_half(0x1p-24f), 0x0001);
}

}  // namespace
}  // namespace lancer::core
