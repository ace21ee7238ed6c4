#include "lance/row_ids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

#include "rowids.pb.h"
#include "storage/file_io.h"

namespace lancer::lance {
namespace {

namespace fs = std::filesystem;
namespace pb = ::lance::table;

std::string data_dir() {
  if (const char* env = std::getenv("LANCER_TEST_DATA")) return env;
  return (fs::path(__FILE__).parent_path() / "../../data/lance").lexically_normal().string();
}

template <typename T>
std::string le_bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

Result<std::vector<uint64_t>> decode(const pb::RowIdSequence& seq, std::optional<uint64_t> expected = std::nullopt) {
  const std::string bytes = seq.SerializeAsString();
  return decode_row_id_sequence(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "fragment 7", expected);
}

Result<std::vector<uint64_t>> decode_bytes(const std::string& bytes, std::optional<uint64_t> expected = std::nullopt) {
  return decode_row_id_sequence(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "fragment 7", expected);
}

void expect_error(const Result<std::vector<uint64_t>>& r, const std::string& needle,
                  StatusCode code = StatusCode::kCorruption) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find("fragment 7"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

pb::U64Segment* add(pb::RowIdSequence& seq) {
  return seq.add_segments();
}

TEST(RowIds, RangesAreEndExclusive) {
  pb::RowIdSequence seq;
  add(seq)->mutable_range()->set_end(3);
  auto* r = add(seq)->mutable_range();
  r->set_start(10);
  r->set_end(12);
  add(seq)->mutable_range()->set_start(0);  // empty range [0, 0)
  auto ids = decode(seq);
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{0, 1, 2, 10, 11}));
  EXPECT_TRUE(decode(pb::RowIdSequence()).ok());
}

TEST(RowIds, HolesAreAbsoluteIdsLeftOut) {
  pb::RowIdSequence seq;
  auto* h = add(seq)->mutable_range_with_holes();
  h->set_start(100);
  h->set_end(110);
  h->mutable_holes()->mutable_u16_array()->set_base(101);
  h->mutable_holes()->mutable_u16_array()->set_offsets(le_bytes<uint16_t>({0, 4, 8}));  // 101, 105, 109
  auto ids = decode(seq);
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{100, 102, 103, 104, 106, 107, 108}));
}

TEST(RowIds, BitmapBitsAreLsbFirstAndMarkPresentIds) {
  pb::RowIdSequence seq;
  auto* b = add(seq)->mutable_range_with_bitmap();
  b->set_start(50);
  b->set_end(61);                             // 11 ids → 2 bytes
  b->set_bitmap(std::string("\x05\x06", 2));  // byte 0: bits 0, 2; byte 1: bits 1, 2 → offsets 9, 10
  auto ids = decode(seq);
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  EXPECT_EQ(*ids, (std::vector<uint64_t>{50, 52, 59, 60}));
}

TEST(RowIds, EncodedArraysOfEveryWidth) {
  pb::RowIdSequence seq;
  auto* a16 = add(seq)->mutable_sorted_array()->mutable_u16_array();
  a16->set_base(1000);
  a16->set_offsets(le_bytes<uint16_t>({0, 1, 65535}));
  auto* a32 = add(seq)->mutable_array()->mutable_u32_array();
  a32->set_base(uint64_t{1} << 40);
  a32->set_offsets(le_bytes<uint32_t>({7, 0xFFFFFFFFu, 3}));
  add(seq)->mutable_array()->mutable_u64_array()->set_values(
      le_bytes<uint64_t>({std::numeric_limits<uint64_t>::max(), 0, 12}));
  add(seq)->mutable_sorted_array()->mutable_u32_array()->set_base(9);  // empty
  auto ids = decode(seq);
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  const uint64_t t = uint64_t{1} << 40;
  EXPECT_EQ(*ids, (std::vector<uint64_t>{1000, 1001, 66535, t + 7, t + 0xFFFFFFFFu, t + 3,
                                         std::numeric_limits<uint64_t>::max(), 0, 12}));
}

TEST(RowIds, ExpectedCountIsChecked) {
  pb::RowIdSequence seq;
  add(seq)->mutable_range()->set_end(10);
  EXPECT_TRUE(decode(seq, 10).ok());
  expect_error(decode(seq, 11), "holds 10 ids, the fragment has 11 physical rows");
}

TEST(RowIds, RefusesMalformedSegments) {
  auto one = [](auto&& fill) {
    pb::RowIdSequence seq;
    fill(*seq.add_segments());
    return decode(seq);
  };
  expect_error(one([](pb::U64Segment& s) {
                 s.mutable_range()->set_start(5);
                 s.mutable_range()->set_end(4);
               }),
               "segment 0 (range): range start 5 > end 4");
  expect_error(one([](pb::U64Segment& s) { s.mutable_range()->set_end(uint64_t{1} << 33); }), "more than 2^32 ids");
  expect_error(one([](pb::U64Segment& s) { s.mutable_range_with_holes()->set_end(4); }), "no holes array");
  expect_error(one([](pb::U64Segment& s) {
                 auto* h = s.mutable_range_with_holes();
                 h->set_end(10);
                 h->mutable_holes()->mutable_u16_array()->set_offsets(le_bytes<uint16_t>({3, 2}));
               }),
               "holes not strictly ascending");
  expect_error(one([](pb::U64Segment& s) {
                 auto* h = s.mutable_range_with_holes();
                 h->set_start(5);
                 h->set_end(10);
                 h->mutable_holes()->mutable_u64_array()->set_values(le_bytes<uint64_t>({10}));
               }),
               "leave the range [5, 10)");
  expect_error(one([](pb::U64Segment& s) {
                 auto* b = s.mutable_range_with_bitmap();
                 b->set_end(9);
                 b->set_bitmap("\xff");
               }),
               "bitmap of 1 bytes for a range of 9 ids (needs 2)");
  expect_error(one([](pb::U64Segment& s) {
                 auto* b = s.mutable_range_with_bitmap();
                 b->set_end(4);
                 b->set_bitmap("\x1f");
               }),
               "bits set past the end");
  expect_error(one([](pb::U64Segment& s) { s.mutable_array()->mutable_u16_array()->set_offsets("abc"); }),
               "3 bytes is not a whole number of 2-byte values");
  expect_error(one([](pb::U64Segment& s) { s.mutable_array()->mutable_u64_array()->set_values("1234567"); }),
               "7 bytes is not a whole number of 8-byte values");
  expect_error(one([](pb::U64Segment& s) {
                 auto* a = s.mutable_array()->mutable_u32_array();
                 a->set_base(std::numeric_limits<uint64_t>::max() - 1);
                 a->set_offsets(le_bytes<uint32_t>({1, 2}));
               }),
               "overflows u64");
  expect_error(one([](pb::U64Segment& s) {
                 s.mutable_sorted_array()->mutable_u64_array()->set_values(le_bytes<uint64_t>({4, 4}));
               }),
               "sorted_array not strictly ascending");
  expect_error(one([](pb::U64Segment& s) { s.mutable_array(); }), "EncodedU64Array has no kind set");
  expect_error(one([](pb::U64Segment&) {}), "segment 0 (unset): segment has no kind set");
}

TEST(RowIds, UnknownKindsAreNotSupported) {
  // RowIdSequence{segments: U64Segment{field 6 (a future kind): empty message}}.
  expect_error(decode_bytes(std::string("\x0a\x02\x32\x00", 4)), "unknown segment kind", StatusCode::kNotSupported);
  // U64Segment{array: EncodedU64Array{field 4: empty}}.
  expect_error(decode_bytes(std::string("\x0a\x04\x2a\x02\x22\x00", 6)), "unknown EncodedU64Array kind",
               StatusCode::kNotSupported);
  expect_error(decode_bytes(std::string("\x0a\x05garbage", 8)), "not a valid RowIdSequence");
}

// "physical_rows N" then "offset count first_id" runs of live rows.
struct Expected {
  uint64_t physical_rows = 0;
  std::vector<std::pair<uint64_t, uint64_t>> live;  // (offset, id)
};
Expected read_expected(const std::string& path) {
  std::ifstream in(path);
  Expected e;
  std::string word;
  in >> word >> e.physical_rows;
  EXPECT_EQ(word, "physical_rows") << path;
  for (uint64_t off, n, id; in >> off >> n >> id;) {
    for (uint64_t i = 0; i < n; ++i) e.live.emplace_back(off + i, id + i);
  }
  return e;
}

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(data_dir() + "/row_ids")) {
    if (entry.path().extension() == ".pb") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RowIds, ReproducesPylanceRowIds) {
  const auto names = fixture_names();
  ASSERT_GE(names.size(), 7u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    auto bytes = storage::read_whole_file(data_dir() + "/row_ids/" + name + ".pb");
    ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
    const Expected e = read_expected(data_dir() + "/row_ids/" + name + ".expected");
    auto ids = decode_row_id_sequence(bytes->data(), bytes->size(), name, e.physical_rows);
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    ASSERT_EQ(ids->size(), e.physical_rows);
    // Every live row (pylance's _rowaddr offset → _rowid) sits where the
    // sequence says; deleted rows keep their id in the sequence.
    for (const auto& [offset, id] : e.live) ASSERT_EQ((*ids)[offset], id) << "offset " << offset;
  }
}

TEST(RowIds, FixtureTruncationsAndBitFlipsAreClean) {
  for (const std::string& name : fixture_names()) {
    auto bytes = storage::read_whole_file(data_dir() + "/row_ids/" + name + ".pb");
    ASSERT_TRUE(bytes.ok());
    const Expected e = read_expected(data_dir() + "/row_ids/" + name + ".expected");
    const std::string b(bytes->begin(), bytes->end());
    for (size_t n = 0; n < b.size(); ++n) {
      auto r = decode_bytes(b.substr(0, n), e.physical_rows);
      ASSERT_FALSE(r.ok()) << name << " cut to " << n;
      ASSERT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
    }
    for (size_t bit = 0; bit < b.size() * 8; ++bit) {
      std::string flipped = b;
      flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      auto r = decode_bytes(flipped, e.physical_rows);
      if (r.ok()) {
        ASSERT_EQ(r->size(), e.physical_rows);
      } else {
        ASSERT_NE(r.status().message().find("fragment 7"), std::string::npos);
      }
    }
  }
}

// Found by fuzz/fuzz_row_ids.cc: 46 bytes of ranges claiming 631 million ids, for which a decode
// without an expected count reserved 5 GB. Fragments always pass their physical row count, and the
// count is checked before anything is allocated.
TEST(RowIds, FuzzedSequenceClaimingMillionsOfIdsIsRefusedForItsFragment) {
  auto input = storage::read_whole_file(data_dir() + "/../fuzz-regressions/row_ids/oom-631m-ids");
  ASSERT_TRUE(input.ok()) << input.status().to_string();
  const std::string seq(input->begin() + 1, input->end());  // byte 0 is the harness's
  expect_error(decode_bytes(seq, 1000), "the fragment has 1000 physical rows");
}

}  // namespace
}  // namespace lancer::lance
