// RqLanesKernels::rescale_events (AVX-512's 16-dimension emission of RaBitQ's
// rescale events) against the events written out one dimension and one code at
// a time, as the header defines them: the same set of keys, for every ex-bit
// width, dimensions that are not a multiple of 16, and values that are
// positive, zero, negative, tied, tiny, infinite or NaN; and the retry when the
// caller's buffer is too small.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "simd/level.h"
#include "simd/rq_lanes.h"

namespace lancer::simd {
namespace {

std::vector<uint64_t> plain_events(const std::vector<float>& a, uint32_t max_code, float t_start, float t_end) {
  std::vector<uint64_t> keys;
  for (size_t j = 0; j < a.size(); ++j) {
    const float v = a[j];
    if (!(v > 0.0f) || !std::isfinite(v)) continue;
    const float x = std::floor(t_start * v + 1.0e-5f);
    const uint32_t start = static_cast<uint32_t>(std::clamp(x, 0.0f, static_cast<float>(max_code)));
    for (uint32_t next = start + 1; next <= max_code; ++next) {
      const float threshold = static_cast<float>(next) / v;
      if (!(threshold < t_end)) break;
      keys.push_back(uint64_t{std::bit_cast<uint32_t>(threshold)} << 32 | uint64_t{j} << 8 | (next & 0xff));
    }
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<float> values(size_t d, int kind, std::mt19937& rng) {
  std::normal_distribution<float> g;
  std::vector<float> a(d);
  for (float& v : a) {
    switch (kind) {
      case 0: v = std::fabs(g(rng)); break;                                               // |gaussian|
      case 1: v = static_cast<float>(1 + rng() % 4) * 0.125f; break;                      // ties across dimensions
      case 2: v = rng() % 4 == 0 ? 0.0f : static_cast<float>(rng() % 16) / 16.0f; break;  // zeros
      case 3: v = g(rng); break;                                                          // negative values too
      default: {  // everything the caller may pass: -0.0, denormals, infinities and NaN among normal values
        const float special[] = {-0.0f, std::numeric_limits<float>::denorm_min(), 1.0e-30f,
                                 std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
        v = rng() % 3 == 0 ? special[rng() % 5] : std::fabs(g(rng));
      }
    }
  }
  return a;
}

TEST(RqEvents, SameKeysAsOneDimensionAtATime) {
  const RqLanesKernels* k = rq_lanes_kernels(SimdLevel::kAvx512);
  if (k == nullptr || cpu_simd_level() < SimdLevel::kAvx512 || k->rescale_events == nullptr) {
    GTEST_SKIP() << "no AVX-512 on this CPU";
  }
  const float tight[9] = {0.0f, 0.15f, 0.20f, 0.52f, 0.59f, 0.71f, 0.75f, 0.77f, 0.81f};
  std::mt19937 rng(7);
  size_t checked = 0;
  for (size_t d : {8u, 24u, 40u, 128u, 200u, 1024u}) {
    for (int ex_bits = 1; ex_bits <= 8; ++ex_bits) {
      for (int kind = 0; kind < 5; ++kind) {
        const std::vector<float> a = values(d, kind, rng);
        float max_value = 0.0f;
        for (float v : a) {
          if (std::isfinite(v)) max_value = std::max(max_value, v);
        }
        if (!(max_value > 0.0f)) continue;
        const uint32_t max_code = (1u << ex_bits) - 1;
        const float t_end = static_cast<float>(max_code + 10) / max_value;
        const float t_start = t_end * tight[ex_bits];
        const std::vector<uint64_t> want = plain_events(a, max_code, t_start, t_end);
        // Too little room first (the count comes back, nothing past the room written), then enough.
        std::vector<uint64_t> got(want.size() / 2 + 16, 0), guard = got;
        const size_t capacity = got.size() - 8;
        size_t n = k->rescale_events(a.data(), d, max_code, t_start, t_end, got.data(), capacity);
        ASSERT_EQ(n, want.size()) << d << " dims, " << ex_bits << " ex bits, kind " << kind;
        EXPECT_TRUE(std::equal(got.begin() + static_cast<ptrdiff_t>(capacity), got.end(),
                               guard.begin() + static_cast<ptrdiff_t>(capacity)));
        if (n + 16 > capacity) {
          got.assign(n + 16, 0);
          n = k->rescale_events(a.data(), d, max_code, t_start, t_end, got.data(), got.size());
        }
        got.resize(n);
        std::sort(got.begin(), got.end());
        EXPECT_EQ(got, want) << d << " dims, " << ex_bits << " ex bits, kind " << kind;
        checked += n;
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

}  // namespace
}  // namespace lancer::simd
