// take_fragment_rows against a full scan of the pylance-written fixtures in
// tests/data/reader/ (every page encoding, nulls, deletions): any selection of
// rows, read with any gap merging, holds the scan's bytes, and null rows are
// reported as null.
#include "dataset/take.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "dataset/fragment.h"
#include "dataset/vector_stream.h"

namespace lancer::dataset {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(LANCER_SOURCE_DIR) / "tests/data/reader";

TEST(TakeFragmentRows, MatchesTheScanForAnySelectionAndGap) {
  size_t fixtures = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".lance" || name.rfind("struct_", 0) == 0) continue;
    SCOPED_TRACE(name);
    ++fixtures;
    auto ds = Dataset::open(entry.path().string());
    ASSERT_TRUE(ds.ok()) << ds.status().to_string();
    auto column = (*ds)->vector_column("vector");
    ASSERT_TRUE(column.ok()) << column.status().to_string();
    const size_t rb = column->type.row_bytes();
    // The scan: every live non-null row by address.
    std::map<uint64_t, std::vector<uint8_t>> scanned;
    {
      auto stream = VectorStream::open(*ds, "vector", StreamOptions{});
      ASSERT_TRUE(stream.ok()) << stream.status().to_string();
      VectorBatch batch;
      for (;;) {
        auto more = (*stream)->next(&batch);
        ASSERT_TRUE(more.ok()) << more.status().to_string();
        if (!*more) break;
        // Each row's offset is its place in the fragment, whatever its id.
        const auto index = (*ds)->fragment_index(batch.fragment_id);
        ASSERT_TRUE(index.has_value());
        auto stable = Fragment(**ds, *index).stable_row_ids();
        ASSERT_TRUE(stable.ok());
        ASSERT_EQ(batch.offsets.size(), batch.num_rows);
        for (size_t i = 0; i < batch.num_rows; ++i) {
          scanned[batch.row_ids[i]].assign(batch.values.begin() + i * rb, batch.values.begin() + (i + 1) * rb);
          const uint32_t off = batch.offsets[i];
          EXPECT_EQ(batch.row_ids[i], stable->empty() ? (batch.fragment_id << 32) | off : (*stable)[off]);
        }
      }
    }
    std::mt19937_64 rng(7);
    core::UninitVector<uint8_t> scratch;  // shared by every call, as a caller would
    for (size_t f = 0; f < (*ds)->fragments().size(); ++f) {
      const Fragment frag(**ds, f);
      auto deleted = frag.deletions();
      ASSERT_TRUE(deleted.ok());
      std::vector<uint32_t> live;
      for (uint32_t off = 0; off < frag.physical_rows(); ++off) {
        if (!std::binary_search(deleted->begin(), deleted->end(), off)) live.push_back(off);
      }
      for (const double keep : {1.0, 0.5, 0.1}) {
        std::vector<uint32_t> offsets;
        for (uint32_t off : live) {
          if (std::uniform_real_distribution<double>(0, 1)(rng) < keep) offsets.push_back(off);
        }
        for (const uint64_t gap : {uint64_t{0}, uint64_t{2}, uint64_t{1000}}) {
          std::vector<uint8_t> values(offsets.size() * rb), valid(offsets.size(), 2);
          Status st = take_fragment_rows(**ds, *column, f, offsets, gap, values.data(), valid.data(), &scratch);
          ASSERT_TRUE(st.ok()) << st.to_string();
          for (size_t i = 0; i < offsets.size(); ++i) {
            const auto it = scanned.find(frag.address(offsets[i]));
            if (it == scanned.end()) {
              EXPECT_EQ(valid[i], 0) << "row " << offsets[i] << " is null in the scan";
              continue;
            }
            ASSERT_EQ(valid[i], 1) << "row " << offsets[i];
            EXPECT_EQ(std::memcmp(values.data() + i * rb, it->second.data(), rb), 0)
                << "row " << offsets[i] << ", keep " << keep << ", gap " << gap;
          }
        }
      }
    }
  }
  EXPECT_GE(fixtures, 5u);
}

TEST(TakeFragmentRows, RefusesARowPastTheEnd) {
  auto ds = Dataset::open((kFixtures / "f32x16_v2_1.lance").string());
  ASSERT_TRUE(ds.ok());
  auto column = (*ds)->vector_column("vector");
  ASSERT_TRUE(column.ok());
  const Fragment frag(**ds, 0);
  const std::vector<uint32_t> offsets{0, static_cast<uint32_t>(frag.physical_rows())};
  std::vector<uint8_t> values(2 * column->type.row_bytes()), valid(2);
  core::UninitVector<uint8_t> scratch;
  Status st = take_fragment_rows(**ds, *column, 0, offsets, 0, values.data(), valid.data(), &scratch);
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.to_string();
}

}  // namespace
}  // namespace lancer::dataset
