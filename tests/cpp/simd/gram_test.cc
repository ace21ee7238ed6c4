// The gram kernels (simd/gram.h): every level against the definition, one
// std::fma chain in index order per pair, bit for bit.
#include "simd/gram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "simd/codeword.h"

namespace lancer::simd {
namespace {

std::vector<float> mixed_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  // Magnitudes over several binades, so that a product rounded before its sum differs from the fused one.
  for (size_t i = 0; i < n; ++i) v[i] = normal(gen) * std::ldexp(1.0f, static_cast<int>(i % 7) - 3);
  return v;
}

TEST(Gram, EveryLevelIsTheFusedChain) {
  std::vector<SimdLevel> levels{SimdLevel::kScalar};
  if (cpu_simd_level() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (cpu_simd_level() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  for (size_t dim : {1, 3, 16, 17, 128, 130}) {
    const size_t rows = 16, cols = 11, ld = 19;  // a partial block of columns; a stride wider than the tile
    const auto x = mixed_floats(rows * dim, static_cast<uint32_t>(dim * 100));
    const auto y = mixed_floats(cols * dim, static_cast<uint32_t>(dim * 7));
    std::vector<float> xt(packed_size(rows, dim)), yt(packed_size(cols, dim));
    pack_blocks(x.data(), rows, dim, dim, xt.data());
    pack_blocks(y.data(), cols, dim, dim, yt.data());
    size_t unfused_differs = 0;
    for (SimdLevel level : levels) {
      std::vector<float> out(16 * ld, -1.0f);
      gram_tile(level)(xt.data(), yt.data(), dim, out.data(), ld);
      for (size_t r = 0; r < 16; ++r) {
        for (size_t c = 0; c < 16; ++c) {
          float v = 0, unfused = 0;
          for (size_t j = 0; j < dim; ++j) {
            const float b = c < cols ? y[c * dim + j] : 0.0f;  // padding lanes are zero
            v = std::fma(x[r * dim + j], b, v);
            unfused += x[r * dim + j] * b;
          }
          unfused_differs += v != unfused;
          ASSERT_EQ(std::memcmp(&out[r * ld + c], &v, 4), 0)
              << simd_level_name(level) << " dim " << dim << " row " << r << " column " << c;
        }
        for (size_t c = 16; c < ld; ++c) ASSERT_EQ(out[r * ld + c], -1.0f);  // nothing past the tile
      }
    }
    if (dim >= 16) {
      EXPECT_GT(unfused_differs, 0u) << "the data does not tell a fused chain from an unfused one";
    }
  }
}

// pack_blocks with an offset (the graph build's centred rows): value j of row i
// at its transposed place, less offset[j]; padding lanes zero. Shapes for the
// 4 x 4 transposes, their scalar tails, partial blocks, and the AVX-512 16 x 16 transposes of
// whole blocks (dim 8 or a multiple of 16).
TEST(Gram, PackBlocksWithOffset) {
  for (size_t n : {5, 16, 37}) {
    for (size_t dim : {1, 4, 7, 8, 16, 32, 130}) {
      const size_t stride = dim + 3;
      const auto x = mixed_floats(n * stride, static_cast<uint32_t>(n * 1000 + dim));
      const auto offset = mixed_floats(dim, static_cast<uint32_t>(dim));
      std::vector<float> xt(packed_size(n, dim), -1.0f), plain(packed_size(n, dim), -1.0f);
      pack_blocks(x.data(), n, stride, dim, xt.data(), offset.data());
      pack_blocks(x.data(), n, stride, dim, plain.data());
      for (size_t i = 0; i < (n + 15) / 16 * 16; ++i) {
        for (size_t j = 0; j < dim; ++j) {
          const size_t at = (i / 16 * dim + j) * 16 + i % 16;
          const float want = i < n ? x[i * stride + j] - offset[j] : 0.0f;
          const float copy = i < n ? x[i * stride + j] : 0.0f;
          ASSERT_EQ(std::memcmp(&xt[at], &want, 4), 0) << n << " " << dim << " " << i << " " << j;
          ASSERT_EQ(std::memcmp(&plain[at], &copy, 4), 0) << n << " " << dim << " " << i << " " << j;
        }
      }
    }
  }
}

// fma(a, b, v) = fma(b, a, v): the tile of a block with itself is symmetric.
TEST(Gram, SymmetricToTheBit) {
  const size_t n = 16, dim = 77;
  const auto x = mixed_floats(n * dim, 5);
  std::vector<float> xt(packed_size(n, dim)), out(n * n);
  pack_blocks(x.data(), n, dim, dim, xt.data());
  gram_tile()(xt.data(), xt.data(), dim, out.data(), n);
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) ASSERT_EQ(std::memcmp(&out[a * n + b], &out[b * n + a], 4), 0) << a << " " << b;
  }
}

}  // namespace
}  // namespace lancer::simd
