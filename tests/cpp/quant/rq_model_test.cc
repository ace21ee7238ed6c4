// RaBitQ pieces against hand-checked cases and brute force: the fast rotation
// (sign-bit order, the power-of-two and Kac paths), the blocked ex-code layout
// of every width, the rescale search, and one encoded row's codes and factors.
#include "quant/rq_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "simd/rq_lanes.h"

namespace lancer::quant {
namespace {

RqModel model_with_signs(uint32_t dim, int num_bits, std::vector<uint8_t> signs) {
  RqModel m;
  m.dim = dim;
  m.num_bits = num_bits;
  m.signs = std::move(signs);
  EXPECT_TRUE(check_rq_model(m).ok());
  return m;
}

RqModel random_model(uint32_t dim, int num_bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> signs(4 * dim / 8);
  for (auto& s : signs) s = static_cast<uint8_t>(rng());
  return model_with_signs(dim, num_bits, signs);
}

TEST(RqRotation, HandCheckedPowerOfTwo) {
  // dim 8, H' = H / sqrt(8), H'^2 = I. Only round 1 flips dim 0 (bit 0 of its byte):
  // R = H' H' D H' H'... = H' D H' (rounds 2, 3 cancel), so R e0 = H' D (ones / sqrt 8)
  // = H' (ones - 2 e0) / sqrt 8 = e0 - ones / 4.
  const RqModel m = model_with_signs(8, 5, {0x00, 0x01, 0x00, 0x00});
  const float e0[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  float out[8];
  rq_rotate(m, e0, out);
  EXPECT_NEAR(out[0], 0.75f, 1e-6);
  for (int i = 1; i < 8; ++i) EXPECT_NEAR(out[i], -0.25f, 1e-6) << i;
  // Only round 0 flips dim 2 (bit 2): R = H'^4 D = D.
  const RqModel d = model_with_signs(8, 5, {0x04, 0x00, 0x00, 0x00});
  const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  rq_rotate(d, x, out);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(out[i], i == 2 ? -3.0f : x[i], 1e-5) << i;
}

TEST(RqRotation, KacPathIsOrthonormal) {
  // dim 48: FWHT on 32-dim windows plus Kac's walk, 4 rounds, then x 0.25.
  for (uint32_t dim : {24u, 48u, 40u}) {
    const RqModel m = random_model(dim, 5, dim);
    std::mt19937 rng(7);
    std::normal_distribution<float> g;
    std::vector<float> a(dim), b(dim), ra(dim), rb(dim);
    for (uint32_t i = 0; i < dim; ++i) a[i] = g(rng), b[i] = g(rng);
    rq_rotate(m, a.data(), ra.data());
    rq_rotate(m, b.data(), rb.data());
    double ab = 0, rab = 0, aa = 0, raa = 0;
    for (uint32_t i = 0; i < dim; ++i) {
      ab += a[i] * b[i], rab += ra[i] * rb[i], aa += a[i] * a[i], raa += ra[i] * ra[i];
    }
    EXPECT_NEAR(raa, aa, 1e-4 * aa) << dim;
    EXPECT_NEAR(rab, ab, 1e-4 * aa) << dim;
  }
}

// Lance's fast rotation written the plain way (a branch per sign, the butterfly
// stages one after another over the whole window): rq_rotate must give the same
// bits on both of its paths.
std::vector<float> plain_rotate(const RqModel& m, std::vector<float> x) {
  const size_t d = m.dim, bpr = m.code_bytes();
  size_t t = 1;
  while (t * 2 <= d) t *= 2;
  const float scale = 1.0f / std::sqrt(static_cast<float>(t));
  auto fwht = [](float* y, size_t n) {
    for (size_t half = 1; half < n; half *= 2) {
      for (size_t block = 0; block < n; block += 2 * half) {
        for (size_t i = block; i < block + half; ++i) {
          const float a = y[i], b = y[i + half];
          y[i] = a + b;
          y[i + half] = a - b;
        }
      }
    }
  };
  for (int r = 0; r < 4; ++r) {
    for (size_t i = 0; i < d; ++i) {
      if ((m.signs[r * bpr + i / 8] >> (i % 8)) & 1) x[i] = -x[i];
    }
    float* w = t == d || r % 2 == 0 ? x.data() : x.data() + (d - t);
    fwht(w, t);
    for (size_t i = 0; i < t; ++i) w[i] *= scale;
    if (t != d) {
      for (size_t i = 0; i < d / 2; ++i) {
        const float a = x[i], b = x[i + d / 2];
        x[i] = a + b;
        x[i + d / 2] = a - b;
      }
    }
  }
  if (t != d) {
    for (auto& v : x) v *= 0.25f;
  }
  return x;
}

TEST(RqRotation, SameBitsAsThePlainStages) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  for (uint32_t dim : {8u, 16u, 24u, 64u, 96u, 128u, 136u, 256u}) {
    const RqModel m = random_model(dim, 5, dim);
    std::vector<float> x(dim), got(dim);
    for (auto& v : x) v = g(rng);
    rq_rotate(m, x.data(), got.data());
    const std::vector<float> want = plain_rotate(m, x);
    for (uint32_t i = 0; i < dim; ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i])) << "dim " << dim << " at " << i;
    }
  }
}

TEST(RqExCodes, BlockedPackingRoundTripsEveryWidth) {
  std::mt19937 rng(3);
  for (int bits = 1; bits <= 8; ++bits) {
    uint8_t values[64], back[64];
    for (auto& v : values) v = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
    std::vector<uint8_t> block(64 * bits / 8, 0xAA);
    rq_pack_ex_block(bits, values, block.data());
    rq_unpack_ex_block(bits, block.data(), back);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(back[i], values[i]) << bits << " bits, dim " << i;
  }
}

TEST(RqExCodes, BlockedLayoutSpotChecks) {
  uint8_t values[64] = {};
  // 4 bits (num_bits 5, Lance's default): byte 8j+b = dim 16j+b (low nibble) | dim 16j+8+b (high).
  values[16 + 3] = 0x5;
  values[16 + 8 + 3] = 0xC;
  uint8_t b4[32];
  rq_pack_ex_block(4, values, b4);
  EXPECT_EQ(b4[8 + 3], 0xC5);
  for (int i = 0; i < 32; ++i) {
    if (i != 11) {
      EXPECT_EQ(b4[i], 0) << i;
    }
  }
  // 1 bit: bit i of the little-endian word = dim i.
  uint8_t ones[64] = {};
  ones[9] = 1;
  uint8_t b1[8];
  rq_pack_ex_block(1, ones, b1);
  EXPECT_EQ(b1[1], 0x02);
  // 5 bits: the top bit of dim 16k+b sits at bit 8(b%8) + 2k + b/8 of the LE u64 after 32 bytes.
  uint8_t top[64] = {};
  top[16 * 2 + 9] = 0x10;  // k = 2, b = 9: bit 8 + 4 + 1 = 13
  uint8_t b5[40];
  rq_pack_ex_block(5, top, b5);
  EXPECT_EQ(b5[32 + 1], 1 << 5);
}

// The objective the rescale maximises, in double.
double objective(const std::vector<float>& a, int bits, double t) {
  const double max_code = (1 << bits) - 1;
  double num = 0, den = a.size() * 0.25;
  for (float v : a) {
    const double e = std::clamp(std::floor(t * v + 1e-5), 0.0, max_code);
    den += e * e + e;
    num += (e + 0.5) * v;
  }
  return num / std::sqrt(den);
}

TEST(RqExCodes, RescaleIsTheBestOnAFineGrid) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g;
  for (int bits = 1; bits <= 8; ++bits) {
    std::vector<float> a(32);
    double norm = 0;
    for (auto& v : a) v = g(rng), norm += double(v) * v;
    for (auto& v : a) v = static_cast<float>(std::fabs(v) / std::sqrt(norm));
    const float t = rq_best_rescale(a, bits);
    const double best = objective(a, bits, t);
    const float max_a = *std::max_element(a.begin(), a.end());
    const double t_end = ((1 << bits) - 1 + 10) / max_a;
    const double tight[9] = {0, .15, .20, .52, .59, .71, .75, .77, .81};
    for (int i = 0; i <= 2000; ++i) {
      const double ti = t_end * (tight[bits] + (1 - tight[bits]) * i / 2000.0);
      EXPECT_LE(objective(a, bits, ti), best + 1e-6) << bits << " bits, t " << ti << " vs " << t;
    }
  }
}

// Lance's best_ex_rescale_factor written the plain way: every event in a list,
// std::sort by (threshold, emission order), the running sums, the first strict
// improvement. The encoder's bucketed sort must visit the events in this order.
float plain_best_rescale(const std::vector<float>& a, int ex_bits) {
  const float tight[9] = {0.0f, 0.15f, 0.20f, 0.52f, 0.59f, 0.71f, 0.75f, 0.77f, 0.81f};
  float max_value = 0.0f;
  for (float v : a) {
    if (std::isfinite(v)) max_value = std::max(max_value, v);
  }
  if (max_value <= 0.0f) return 0.0f;
  const uint32_t max_code = (1u << ex_bits) - 1;
  const float t_end = static_cast<float>(max_code + 10) / max_value;
  const float t_start = t_end * tight[ex_bits];
  std::vector<uint32_t> codes(a.size(), 0);
  std::vector<std::tuple<float, size_t, uint32_t>> events;  // (threshold, emission order, dim)
  float den = static_cast<float>(a.size()) * 0.25f, num = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float v = a[i];
    if (v <= 0.0f || !std::isfinite(v)) continue;
    const uint32_t cur =
        static_cast<uint32_t>(std::clamp(std::floor(t_start * v + 1.0e-5f), 0.0f, static_cast<float>(max_code)));
    codes[i] = cur;
    den += static_cast<float>(cur * cur + cur);
    num += (static_cast<float>(cur) + 0.5f) * v;
    for (uint32_t next = cur + 1; next <= max_code; ++next) {
      const float t = static_cast<float>(next) / v;
      if (t >= t_end) break;
      events.emplace_back(t, events.size(), static_cast<uint32_t>(i));
    }
  }
  std::sort(events.begin(), events.end());
  float best = num / std::sqrt(den), best_t = t_start;
  for (const auto& [t, order, i] : events) {
    const uint32_t updated = ++codes[i];
    den += static_cast<float>(2 * updated);
    num += a[i];
    const float r = num / std::sqrt(den);
    if (r > best) best = r, best_t = t;
  }
  return best_t;
}

TEST(RqExCodes, RescaleVisitsEventsInThresholdThenEmissionOrder) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  for (int bits = 1; bits <= 8; ++bits) {
    for (int round = 0; round < 50; ++round) {
      std::vector<float> a(128);
      // Repeated and scaled values give equal thresholds across dimensions (ties), zeros none.
      for (size_t i = 0; i < a.size(); ++i) {
        const int kind = round % 3;
        a[i] = kind == 0   ? std::fabs(g(rng))
               : kind == 1 ? static_cast<float>(1 + rng() % 4) * 0.125f
                           : (rng() % 5 == 0 ? 0.0f : static_cast<float>(1 + rng() % 16) / 16.0f);
      }
      double norm = 0;
      for (float v : a) norm += double(v) * v;
      for (auto& v : a) v = static_cast<float>(v / std::sqrt(norm));
      const float want = plain_best_rescale(a, bits);
      const float got = rq_best_rescale(a, bits);
      EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << bits << " bits, round " << round;
    }
  }
}

TEST(RqEncode, CodesAndFactorsFollowTheirDefinitions) {
  const uint32_t dim = 64;
  for (int num_bits : {1, 5}) {
    const RqModel m = random_model(dim, num_bits, 9);
    std::mt19937 rng(11);
    std::normal_distribution<float> g;
    std::vector<float> r(dim), c(dim);
    for (uint32_t i = 0; i < dim; ++i) r[i] = g(rng), c[i] = g(rng);
    r[5] = 0.0f;  // +0.0 counts as positive
    r[6] = -0.0f;
    float norm_square = 0;
    for (float v : r) norm_square += v * v;
    std::vector<uint8_t> codes(m.code_bytes()), ex(std::max<size_t>(1, m.ex_code_bytes()));
    RqEncoded out{codes.data(), ex.data()};
    RqScratch scratch;
    rq_encode_rotated(m, simd::Metric::kL2, r.data(), c.data(), norm_square, &out, &scratch);
    double rx = 0, cx = 0;
    for (uint32_t i = 0; i < dim; ++i) {
      const bool bit = (codes[i / 8] >> (i % 8)) & 1;
      EXPECT_EQ(bit, !std::signbit(r[i])) << i;
      rx += r[i] * (bit ? 0.5 : -0.5);
      cx += c[i] * (bit ? 0.5 : -0.5);
    }
    EXPECT_NEAR(out.add, norm_square + 2 * norm_square * cx / rx, 1e-4 * std::fabs(out.add));
    EXPECT_NEAR(out.scale, -2 * norm_square / rx, 1e-4 * std::fabs(out.scale));
    if (num_bits == 1) continue;
    // Ex codes: full code value f_i = +-(e_i + 0.5) with the sign of r'_i; e_i is the magnitude.
    uint8_t e[64];
    rq_unpack_ex_block(m.ex_bits(), ex.data(), e);
    double rf = 0, cf = 0;
    for (uint32_t i = 0; i < dim; ++i) {
      const bool bit = (codes[i / 8] >> (i % 8)) & 1;
      const double f = ((bit ? 1 : 0) << m.ex_bits()) + e[i] - ((1 << m.ex_bits()) - 0.5);
      rf += r[i] * f;
      cf += c[i] * f;
      EXPECT_EQ(f > 0, bit) << i;
    }
    EXPECT_NEAR(out.add_ex, norm_square + 2 * norm_square * cf / rf, 1e-4 * std::fabs(out.add_ex));
    EXPECT_NEAR(out.scale_ex, -2 * norm_square / rf, 1e-4 * std::fabs(out.scale_ex));
    // The multi-bit code is a far better direction than the sign code.
    double ff = 0;
    for (uint32_t i = 0; i < dim; ++i) {
      const bool bit = (codes[i / 8] >> (i % 8)) & 1;
      const double f = ((bit ? 1 : 0) << m.ex_bits()) + e[i] - ((1 << m.ex_bits()) - 0.5);
      ff += f * f;
    }
    EXPECT_GT(rf / std::sqrt(ff * norm_square), 0.98);
  }
}

// rq_encode_lanes against rotating and encoding each vector alone (the scalar
// level's path): every byte and factor bit, at each SIMD level the CPU has, for
// FWHT and Kac dimensions, every num_bits, partial batches, and residuals that
// are zero, tiny (no ex code), tied (equal thresholds) or signed zeros.
TEST(RqEncode, LanesGiveTheBytesOfOneVectorAtATime) {
  std::mt19937 rng(21);
  std::normal_distribution<float> g;
  for (auto level : {simd::SimdLevel::kAvx2, simd::SimdLevel::kAvx512}) {
    const simd::RqLanesKernels* k = simd::rq_lanes_kernels(level);
    if (k == nullptr || level > simd::cpu_simd_level()) continue;
    for (uint32_t dim : {8u, 24u, 64u, 96u, 128u, 200u, 256u}) {
      for (int num_bits = 1; num_bits <= 9; ++num_bits) {
        const RqModel m = random_model(dim, num_bits, dim + num_bits);
        const size_t count = (dim + num_bits) % 3 == 0 ? k->width - 3 : k->width;
        std::vector<float> v(count * dim), c(count * dim), rc(count * dim);
        for (size_t l = 0; l < count; ++l) {
          float* x = v.data() + l * dim;
          float* y = c.data() + l * dim;
          for (uint32_t j = 0; j < dim; ++j) y[j] = g(rng), x[j] = y[j] + g(rng);
          switch (l % 5) {
            case 1: std::copy(y, y + dim, x); break;  // zero residual
            case 2:
              for (uint32_t j = 0; j < dim; ++j) x[j] = y[j] + 1e-6f * g(rng);
              break;  // tiny
            case 3:
              for (uint32_t j = 0; j < dim; ++j) x[j] = y[j] + static_cast<float>(1 + rng() % 4) * 0.25f;  // ties
              break;
            case 4:
              for (uint32_t j = 0; j < dim; j += 3) x[j] = y[j];  // residual +0.0
              y[1] = 0.0f, x[1] = -0.0f;                          // residual -0.0
              break;
            default: break;
          }
          rq_rotate(m, y, rc.data() + l * dim);
        }
        for (simd::Metric metric : {simd::Metric::kL2, simd::Metric::kDot}) {
          for (bool given_residuals : {false, true}) {
            const size_t row = m.code_bytes() + m.ex_code_bytes();
            std::vector<uint8_t> want(count * row), got(count * row, 0xAA);
            std::vector<RqEncoded> want_out(count), got_out(count);
            std::vector<float> residuals(count * dim), norm_square(count), rotated(dim);
            std::vector<const float*> rows(count), cents(count), rcs(count);
            RqScratch scratch;
            for (size_t l = 0; l < count; ++l) {
              float ns = 0.0f;
              for (uint32_t j = 0; j < dim; ++j) {
                const float diff = v[l * dim + j] - c[l * dim + j];
                residuals[l * dim + j] = diff;
                ns += diff * diff;
              }
              norm_square[l] = given_residuals ? ns : -1.0f;
              rq_rotate(m, residuals.data() + l * dim, rotated.data());
              want_out[l] = {want.data() + l * row, want.data() + l * row + m.code_bytes()};
              got_out[l] = {got.data() + l * row, got.data() + l * row + m.code_bytes()};
              rq_encode_rotated(m, metric, rotated.data(), rc.data() + l * dim, ns, &want_out[l], &scratch);
              rows[l] = given_residuals ? residuals.data() + l * dim : v.data() + l * dim;
              cents[l] = c.data() + l * dim;
              rcs[l] = rc.data() + l * dim;
            }
            RqLanesScratch lanes;
            rq_encode_lanes(m, metric, *k, count, rows.data(), given_residuals ? nullptr : cents.data(), rcs.data(),
                            norm_square.data(), got_out.data(), &lanes);
            const std::string what = std::string(simd::simd_level_name(level)) + " dim " + std::to_string(dim) +
                                     " bits " + std::to_string(num_bits) + (given_residuals ? " residuals" : "");
            ASSERT_EQ(got, want) << what;
            for (size_t l = 0; l < count; ++l) {
              const RqEncoded& a = got_out[l];
              const RqEncoded& b = want_out[l];
              for (auto [x, y] : {std::pair{a.add, b.add},
                                  {a.scale, b.scale},
                                  {a.error, b.error},
                                  {a.add_ex, b.add_ex},
                                  {a.scale_ex, b.scale_ex}}) {
                EXPECT_EQ(std::bit_cast<uint32_t>(x), std::bit_cast<uint32_t>(y)) << what << " lane " << l;
              }
            }
          }
        }
      }
    }
  }
}

TEST(RqModelJson, RoundTripsAndRefuses) {
  const RqModel m = model_with_signs(16, 3, {1, 2, 3, 4, 5, 6, 7, 255});
  const std::string json = rq_metadata_json(m);
  EXPECT_EQ(json,
            "{\"rotate_mat_position\":null,\"fast_rotation_signs\":[1,2,3,4,5,6,7,255],\"rotation_type\":\"fast\","
            "\"code_dim\":16,\"num_bits\":3,\"packed\":false,\"query_estimator\":\"raw_query\"}");
  auto back = rq_model_from_json(json, 16, "test");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ((*back)->signs, m.signs);
  EXPECT_EQ((*back)->num_bits, 3);
  EXPECT_FALSE(rq_model_from_json(json, 24, "test").ok());  // another dimension
  EXPECT_FALSE(rq_model_from_json("{\"num_bits\":3}", 16, "test").ok());
  RqModel odd = m;
  odd.dim = 12;
  EXPECT_NE(check_rq_model(odd).message().find("divisible by 8 for IVF_RQ"), std::string::npos);
}

}  // namespace
}  // namespace lancer::quant
