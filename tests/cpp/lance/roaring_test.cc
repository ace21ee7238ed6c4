#include "lance/roaring.h"

#include <gtest/gtest.h>
#include <roaring/roaring.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include "storage/file_io.h"

namespace lancer::lance {
namespace {

std::string data_dir() {
  if (const char* env = std::getenv("LANCER_TEST_DATA")) return env;
  return (std::filesystem::path(__FILE__).parent_path() / "../../data/lance").lexically_normal().string();
}

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Result<std::vector<uint32_t>> decode(const std::vector<uint8_t>& b) {
  return roaring_decode(b.data(), b.size(), "test bitmap");
}

uint32_t cookie_of(const std::string& s) {
  uint32_t c = 0;
  std::memcpy(&c, s.data(), 4);
  return c & 0xFFFF;
}

// Serializes with CRoaring after run-optimizing: an independent producer of
// cookie-12347 bitmaps.
std::vector<uint8_t> croaring_with_runs(const std::vector<uint32_t>& values) {
  roaring_bitmap_t* r = roaring_bitmap_of_ptr(values.size(), values.data());
  roaring_bitmap_run_optimize(r);
  std::vector<uint8_t> out(roaring_bitmap_portable_size_in_bytes(r));
  roaring_bitmap_portable_serialize(r, reinterpret_cast<char*>(out.data()));
  roaring_bitmap_free(r);
  return out;
}

std::vector<uint32_t> sorted_unique(std::vector<uint32_t> v) {
  std::set<uint32_t> s(v.begin(), v.end());
  return {s.begin(), s.end()};
}

void expect_corruption(const std::vector<uint8_t>& b, const std::string& needle) {
  auto r = decode(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
  EXPECT_NE(r.status().message().find("test bitmap"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

// A small helper to hand-write portable bitmaps.
struct Writer {
  std::vector<uint8_t> b;
  Writer& u16(uint16_t v) { return raw(&v, 2); }
  Writer& u32(uint32_t v) { return raw(&v, 4); }
  Writer& u8(uint8_t v) { return raw(&v, 1); }
  Writer& raw(const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return *this;
  }
};

TEST(Roaring, EncodesFragmentsZeroAndOneLikeTheFormatNotes) {
  EXPECT_EQ(hex(roaring_encode({0, 1})), "3a 30 00 00 01 00 00 00 00 00 01 00 10 00 00 00 00 00 01 00");
  EXPECT_EQ(hex(roaring_encode({1, 0, 1})), "3a 30 00 00 01 00 00 00 00 00 01 00 10 00 00 00 00 00 01 00");
}

TEST(Roaring, EncodeNeverWritesRunContainers) {
  std::vector<uint32_t> dense;
  for (uint32_t i = 0; i < 200000; ++i) dense.push_back(i);  // a run-container's dream
  for (const auto& values : {std::vector<uint32_t>{}, std::vector<uint32_t>{7}, dense}) {
    const std::string enc = roaring_encode(values);
    EXPECT_EQ(cookie_of(enc), 12346u);
    auto back = decode(bytes_of(enc));
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, values);
  }
  EXPECT_EQ(roaring_encode({}).size(), 8u);  // cookie + zero containers
}

TEST(Roaring, RoundTripsArrayAndBitmapContainers) {
  std::mt19937 rng(42);
  std::vector<uint32_t> values;
  for (uint32_t i = 0; i < 4096; ++i) values.push_back(i * 3);               // key 0: array at the limit
  for (uint32_t i = 0; i < 4097; ++i) values.push_back((1u << 16) + i * 2);  // key 1: bitmap just above
  for (int i = 0; i < 1000; ++i) values.push_back(rng());                    // scattered keys
  values.push_back(0xFFFFFFFFu);
  values.push_back(5);  // duplicates and disorder are fine
  const std::string enc = roaring_encode(values);
  EXPECT_EQ(cookie_of(enc), 12346u);
  auto back = decode(bytes_of(enc));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(*back, sorted_unique(values));
}

TEST(Roaring, DecodesRunContainersWithAndWithoutOffsetTable) {
  // Fewer than 4 containers: 12347 omits the offset table; 4 or more: present.
  std::vector<uint32_t> few, many;
  for (uint32_t i = 10; i < 5000; ++i) few.push_back(i);
  few.push_back(70000);
  for (uint32_t k = 0; k < 6; ++k) {
    for (uint32_t i = 0; i < 300; ++i) many.push_back((k << 16) + 100 + i);
    many.push_back((k << 16) + 9000);  // array-or-run mix
  }
  for (uint32_t i = 0; i < 5000; ++i) many.push_back((9u << 16) + i * 7);  // a bitmap container too
  for (const auto& values : {few, many}) {
    const auto enc = croaring_with_runs(values);
    ASSERT_EQ(enc[0] | (enc[1] << 8), 12347);
    auto back = decode(enc);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, sorted_unique(values));
  }
}

TEST(Roaring, DecodesHandWrittenRunBitmap) {
  // 2 containers, both runs: key 0 {3..5, 10}, key 2 {0..65535}.
  Writer w;
  w.u32(12347 | (1u << 16)).u8(0b11);
  w.u16(0).u16(3).u16(2).u16(0xFFFF);
  w.u16(2).u16(3).u16(2).u16(10).u16(0);
  w.u16(1).u16(0).u16(0xFFFF);
  auto r = decode(w.b);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 4u + 65536u);
  EXPECT_EQ((*r)[0], 3u);
  EXPECT_EQ((*r)[3], 10u);
  EXPECT_EQ((*r)[4], 2u << 16);
  EXPECT_EQ(r->back(), (3u << 16) - 1);
}

TEST(Roaring, DecodesPylanceFixtures) {
  // Index fragment_bitmap written by pylance 14 (cookie 12347, one run).
  auto run = storage::read_whole_file(data_dir() + "/roaring/index_fragments_run.bin");
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ((*run)[0] | ((*run)[1] << 8), 12347);
  auto frags = decode(*run);
  ASSERT_TRUE(frags.ok()) << frags.status().to_string();
  EXPECT_EQ(*frags, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5}));
  // It re-encodes to the 12346 form, which decodes to the same set.
  auto again = decode(bytes_of(roaring_encode(*frags)));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *frags);

  // Deletion .bin of 5500 rows: one bitmap container.
  auto bin = storage::read_whole_file(data_dir() + "/deletion/prefix5500.bin");
  ASSERT_TRUE(bin.ok()) << bin.status().to_string();
  auto deleted = decode(*bin);
  ASSERT_TRUE(deleted.ok()) << deleted.status().to_string();
  ASSERT_EQ(deleted->size(), 5500u);
  for (uint32_t i = 0; i < 5500; ++i) ASSERT_EQ((*deleted)[i], i);
  // Our encoder reproduces Lance's bytes exactly.
  EXPECT_EQ(bytes_of(roaring_encode(*deleted)), *bin);
}

TEST(Roaring, RejectsMalformedHeaders) {
  expect_corruption({}, "empty");
  expect_corruption({0x3a, 0x30}, "truncated in the cookie");
  expect_corruption(Writer().u32(12345).u32(0).b, "unknown cookie 12345");
  expect_corruption(Writer().u32(12346).u32(70000).b, "container count 70000");
  expect_corruption(Writer().u32(12346).u32(3).b, "truncated in the container descriptors");
  auto enc = bytes_of(roaring_encode({1, 2, 3}));
  enc.push_back(0);
  expect_corruption(enc, "1 trailing bytes");
}

TEST(Roaring, RejectsInconsistentContainers) {
  // Array values out of order.
  expect_corruption(Writer().u32(12346).u32(1).u16(0).u16(1).u32(16).u16(5).u16(4).b, "not strictly ascending");
  // Keys out of order.
  expect_corruption(Writer().u32(12346).u32(2).u16(3).u16(0).u16(1).u16(0).u32(24).u32(26).u16(1).u16(1).b,
                    "keys are not strictly ascending");
  // Bitmap container whose popcount differs from its cardinality: CRoaring
  // would trust the header and overrun its output buffer.
  Writer bm;
  bm.u32(12346).u32(1).u16(0).u16(4999).u32(16);
  std::vector<uint8_t> words(8192, 0xFF);
  bm.raw(words.data(), words.size());
  expect_corruption(bm.b, "65536 bits set but claims cardinality 5000");
  // Run past the 16-bit container.
  expect_corruption(Writer().u32(12347).u8(1).u16(0).u16(9).u16(1).u16(0xFFF8).u16(9).b, "runs past the end");
  // Overlapping runs.
  expect_corruption(Writer().u32(12347).u8(1).u16(0).u16(5).u16(2).u16(0).u16(3).u16(2).u16(1).b, "overlap");
  // Run lengths that disagree with the descriptor.
  expect_corruption(Writer().u32(12347).u8(1).u16(0).u16(9).u16(1).u16(0).u16(3).b, "claims 10");
}

TEST(Roaring, EveryTruncationIsCleanCorruption) {
  std::vector<uint32_t> values;
  for (uint32_t i = 0; i < 5000; ++i) values.push_back(i * 13);
  for (const auto& enc : {bytes_of(roaring_encode(values)), croaring_with_runs(values),
                          croaring_with_runs({1, 2, 3, 100000, 100001, 300000})}) {
    for (size_t n = 0; n < enc.size(); ++n) {
      std::vector<uint8_t> cut(enc.begin(), enc.begin() + static_cast<std::ptrdiff_t>(n));
      auto r = decode(cut);
      ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
      ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
    }
  }
}

TEST(Roaring, BitFlipsNeverCrash) {
  auto fixture = storage::read_whole_file(data_dir() + "/roaring/index_fragments_run.bin");
  ASSERT_TRUE(fixture.ok());
  std::vector<std::vector<uint8_t>> inputs = {*fixture, bytes_of(roaring_encode({0, 1, 2, 70000, 70001})),
                                              croaring_with_runs({0, 1, 2, 3, 65536, 131072, 131073, 196608, 4000000})};
  for (const auto& input : inputs) {
    for (size_t bit = 0; bit < input.size() * 8; ++bit) {
      auto flipped = input;
      flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      auto r = decode(flipped);
      if (r.ok()) {
        for (size_t i = 1; i < r->size(); ++i) ASSERT_LT((*r)[i - 1], (*r)[i]) << "bit " << bit;
      } else {
        ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
      }
    }
  }
}

}  // namespace
}  // namespace lancer::lance
