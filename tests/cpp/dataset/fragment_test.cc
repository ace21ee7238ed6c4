// Fragment: the column lookup, deletions and row ids of the pylance-written
// fixture f32x16_v2_1 (300 rows in fragments of 128, 128 and 44; rows with
// id % 7 == 3 deleted), and of copies whose manifest is rewritten to use
// stable row ids or to disagree with itself.
#include "dataset/fragment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lance/commit.h"
#include "lance/feature_flags.h"
#include "lance/manifest.h"
#include "rowids.pb.h"
#include "storage/file_io.h"

namespace lancer::dataset {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(LANCER_SOURCE_DIR) / "tests/data/reader/f32x16_v2_1.lance";

std::shared_ptr<const Dataset> open_or_die(const std::string& uri) {
  auto ds = Dataset::open(uri);
  EXPECT_TRUE(ds.ok()) << ds.status().to_string();
  return ds.ok() ? *ds : nullptr;
}

TEST(Fragment, LocatesTheVectorColumn) {
  auto ds = open_or_die(kFixture.string());
  ASSERT_TRUE(ds);
  auto column = ds->vector_column("vector");
  ASSERT_TRUE(column.ok());
  ASSERT_EQ(ds->fragments().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const Fragment frag(*ds, i);
    EXPECT_EQ(frag.id(), ds->fragments()[i].id);
    auto loc = frag.locate(*column);
    ASSERT_TRUE(loc.ok()) << loc.status().to_string();
    ASSERT_TRUE(loc->file);
    uint64_t rows = 0;
    for (const auto& p : loc->file->column(loc->column).pages) rows += p.num_rows;
    EXPECT_EQ(rows, frag.physical_rows());
    EXPECT_NE(loc->where.find("data/"), std::string::npos) << loc->where;
    EXPECT_NE(loc->where.find("(vector)"), std::string::npos) << loc->where;
  }
}

TEST(Fragment, DeletionsAreSortedOffsets) {
  auto ds = open_or_die(kFixture.string());
  ASSERT_TRUE(ds);
  uint64_t first_row = 0;
  for (size_t i = 0; i < ds->fragments().size(); ++i) {
    const Fragment frag(*ds, i);
    auto deleted = frag.deletions();
    ASSERT_TRUE(deleted.ok()) << deleted.status().to_string();
    std::vector<uint32_t> expected;
    for (uint64_t off = 0; off < frag.physical_rows(); ++off) {
      if ((first_row + off) % 7 == 3) expected.push_back(static_cast<uint32_t>(off));
    }
    EXPECT_EQ(*deleted, expected) << "fragment " << frag.id();
    EXPECT_EQ(deleted->size(), ds->fragments()[i].deleted_rows);
    first_row += frag.physical_rows();
  }
  // Version 1 has no deletion files.
  auto v1 = Dataset::open(kFixture.string(), 1);
  ASSERT_TRUE(v1.ok());
  auto none = Fragment(**v1, 0).deletions();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(Fragment, RowIdsAreAddressesWithoutStableRowIds) {
  auto ds = open_or_die(kFixture.string());
  ASSERT_TRUE(ds);
  const Fragment frag(*ds, 1);
  auto ids = frag.stable_row_ids();
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
  EXPECT_EQ(frag.address(5), (frag.id() << 32) | 5);
}

// A copy of the fixture whose latest manifest is rewritten by `edit` as a new version.
class EditedManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lancer_fragment_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::copy(kFixture, dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  template <typename Edit>
  void rewrite(Edit edit) {
    auto listing = lance::list_versions(dir_.string());
    ASSERT_TRUE(listing.ok());
    const uint64_t v = listing->versions.back();
    const std::string name = "_versions/" + lance::manifest_file_name(v, listing->naming);
    auto mf = lance::read_manifest((dir_ / name).string(), name);
    ASSERT_TRUE(mf.ok()) << mf.status().to_string();
    ::lance::table::Manifest m = mf->manifest;
    m.set_version(v + 1);
    edit(&m);
    const std::string bytes = lance::serialize_manifest_file(m, {}, "");
    std::ofstream(dir_ / "_versions" / lance::manifest_file_name(v + 1, listing->naming), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  fs::path dir_;
};

TEST_F(EditedManifest, StableRowIdsInlineAndExternal) {
  // Fragment i gets ids 1000 * (i + 1) + offset; fragment 1's sequence is in an external file.
  rewrite([&](::lance::table::Manifest* m) {
    m->set_reader_feature_flags(m->reader_feature_flags() | lance::kFlagStableRowIds);
    for (int i = 0; i < m->fragments_size(); ++i) {
      auto* frag = m->mutable_fragments(i);
      ::lance::table::RowIdSequence seq;
      auto* range = seq.add_segments()->mutable_range();
      range->set_start(1000 * (i + 1));
      range->set_end(1000 * (i + 1) + frag->physical_rows());
      const std::string bytes = seq.SerializeAsString();
      if (i != 1) {
        frag->set_inline_row_ids(bytes);
        continue;
      }
      const std::string padded = "pad" + bytes;
      std::ofstream(dir_ / "row_ids.bin", std::ios::binary)
          .write(padded.data(), static_cast<std::streamsize>(padded.size()));
      auto* ext = frag->mutable_external_row_ids();
      ext->set_path("row_ids.bin");
      ext->set_offset(3);
      ext->set_size(bytes.size());
    }
  });
  auto ds = open_or_die(dir_.string());
  ASSERT_TRUE(ds);
  ASSERT_TRUE(ds->has_stable_row_ids());
  for (size_t i = 0; i < ds->fragments().size(); ++i) {
    const Fragment frag(*ds, i);
    auto ids = frag.stable_row_ids();
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    ASSERT_EQ(ids->size(), frag.physical_rows());
    EXPECT_EQ(ids->front(), 1000 * (i + 1));
    EXPECT_EQ(ids->back(), 1000 * (i + 1) + frag.physical_rows() - 1);
  }
}

TEST_F(EditedManifest, MissingRowIdSequenceIsNamed) {
  rewrite([](::lance::table::Manifest* m) {
    m->set_reader_feature_flags(m->reader_feature_flags() | lance::kFlagStableRowIds);
  });
  auto ds = open_or_die(dir_.string());
  ASSERT_TRUE(ds);
  auto ids = Fragment(*ds, 2).stable_row_ids();
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kCorruption);
  EXPECT_NE(ids.status().message().find("fragment 2 has no row-id sequence"), std::string::npos)
      << ids.status().message();
}

TEST_F(EditedManifest, FieldsAndColumnIndicesThatDisagreeAreRefused) {
  std::string path;
  rewrite([&](::lance::table::Manifest* m) {
    auto* file = m->mutable_fragments(1)->mutable_files(0);
    path = file->path();
    file->add_column_indices(7);
  });
  auto ds = open_or_die(dir_.string());
  ASSERT_TRUE(ds);
  auto column = ds->vector_column("vector");
  ASSERT_TRUE(column.ok());
  EXPECT_TRUE(Fragment(*ds, 0).locate(*column).ok());
  auto loc = Fragment(*ds, 1).locate(*column);
  ASSERT_FALSE(loc.ok());
  EXPECT_EQ(loc.status().code(), StatusCode::kCorruption);
  const std::string& msg = loc.status().message();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("fields but"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column indices"), std::string::npos) << msg;
}

TEST_F(EditedManifest, ColumnOutsideTheFileIsRefused) {
  rewrite([&](::lance::table::Manifest* m) {
    auto* file = m->mutable_fragments(0)->mutable_files(0);
    for (int k = 0; k < file->column_indices_size(); ++k) file->set_column_indices(k, 40 + k);
  });
  auto ds = open_or_die(dir_.string());
  ASSERT_TRUE(ds);
  auto column = ds->vector_column("vector");
  ASSERT_TRUE(column.ok());
  auto loc = Fragment(*ds, 0).locate(*column);
  ASSERT_FALSE(loc.ok());
  EXPECT_EQ(loc.status().code(), StatusCode::kCorruption);
  EXPECT_NE(loc.status().message().find("but the file has"), std::string::npos) << loc.status().message();
}

}  // namespace
}  // namespace lancer::dataset
