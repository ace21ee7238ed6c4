#include "core/checksum.h"

#include <gtest/gtest.h>

#include <vector>

namespace lancer::core {
namespace {

// Reference values from libxxhash 0.8.1 (XXH64), so spills written on any machine check the same.
TEST(Checksum, Xxh64MatchesTheReference) {
  std::vector<unsigned char> data(101);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + 3);
  struct Case {
    size_t n;
    uint64_t seed, want;
  };
  // Every path: empty, the 1-, 4- and 8-byte tails, whole 32-byte stripes, a seed.
  for (const Case& c :
       {Case{0, 0, 0xef46db3751d8e999ull}, Case{1, 0, 0x1f25c8d0bc1f4bb6ull}, Case{3, 0, 0x31d2363f52e564c9ull},
        Case{4, 0, 0x9bb64b7d66ee9fdaull}, Case{12, 0, 0xd52e407833af5133ull}, Case{31, 0, 0xa2aa5f33cc4a6119ull},
        Case{32, 0, 0x23c3c17ef790fd97ull}, Case{45, 7, 0xb2cbf6884e23aaebull}, Case{101, 0, 0xbad4d3bf033bda4cull},
        Case{101, 0x123456789abcdefull, 0x649a057165e9432aull}}) {
    EXPECT_EQ(xxh64(data.data(), c.n, c.seed), c.want) << c.n << " bytes, seed " << c.seed;
  }
  EXPECT_EQ(xxh64("abc", 3), 0x44bc2cf5ad770999ull);
}

}  // namespace
}  // namespace lancer::core
