// Commits CreateIndex entries into a copy of a pylance-written fixture and
// reads them back: the index list, the transaction, the naming scheme, the
// conflict rules for a concurrent commit.
#include "lance/commit.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "dataset/dataset.h"
#include "lance/roaring.h"

namespace lancer::lance {
namespace {

namespace fs = std::filesystem;

::lance::table::IndexMetadata make_index(const std::string& name, uint8_t uuid_byte, uint64_t version) {
  ::lance::table::IndexMetadata idx;
  idx.mutable_uuid()->set_uuid(std::string(16, static_cast<char>(uuid_byte)));
  idx.set_name(name);
  idx.add_fields(1);
  idx.set_dataset_version(version);
  idx.set_fragment_bitmap(roaring_encode({0, 1, 2}));
  idx.set_index_version(1);
  idx.mutable_index_details()->set_type_url("/lance.index.pb.VectorIndexDetails");
  idx.mutable_index_details()->set_value(std::string("\x42\x00", 2));  // flat
  return idx;
}

class CommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lancer_commit_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::copy(fs::path(LANCER_SOURCE_DIR) / "tests/data/reader/f32x16_v2_1.lance", dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CommitTest, CommitsAndReplacesByName) {
  auto before = dataset::Dataset::open(dir_.string());
  ASSERT_TRUE(before.ok());
  const uint64_t n = (*before)->version();
  auto first = commit_create_index({dir_.string(), n, make_index("vector_idx", 0x11, n)});
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(first->version, n + 1);
  EXPECT_TRUE(first->removed.empty());

  auto ds = dataset::Dataset::open(dir_.string());
  ASSERT_TRUE(ds.ok()) << ds.status().to_string();
  EXPECT_EQ((*ds)->version(), n + 1);
  EXPECT_EQ((*ds)->fragments().size(), (*before)->fragments().size());
  auto indices = (*ds)->indices();
  ASSERT_TRUE(indices.ok());
  ASSERT_EQ(indices->size(), 1u);
  EXPECT_EQ((*indices)[0].type, "IVF_FLAT");
  EXPECT_EQ((*indices)[0].uuid, "11111111-1111-1111-1111-111111111111");
  EXPECT_EQ((*indices)[0].fragment_ids, (std::vector<uint32_t>{0, 1, 2}));

  // Same name without replace is refused; with replace the old entry is removed.
  auto refused = commit_create_index({dir_.string(), n + 1, make_index("vector_idx", 0x22, n + 1), false});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  auto second = commit_create_index({dir_.string(), n + 1, make_index("vector_idx", 0x22, n + 1)});
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  ASSERT_EQ(second->removed.size(), 1u);
  auto after = (*dataset::Dataset::open(dir_.string()))->indices();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].uuid, "22222222-2222-2222-2222-222222222222");
}

TEST_F(CommitTest, RebasesOverAConcurrentIndexAndRefusesTheSameName) {
  const uint64_t n = (*dataset::Dataset::open(dir_.string()))->version();
  ASSERT_TRUE(commit_create_index({dir_.string(), n, make_index("other_idx", 0x33, n)}).ok());
  // Built from version n while "other_idx" landed: compatible, rebased on n + 1.
  auto rebased = commit_create_index({dir_.string(), n, make_index("vector_idx", 0x44, n)});
  ASSERT_TRUE(rebased.ok()) << rebased.status().to_string();
  EXPECT_EQ(rebased->version, n + 2);
  EXPECT_EQ(rebased->retries, 1);
  EXPECT_EQ((*dataset::Dataset::open(dir_.string()))->indices()->size(), 2u);
  // A second build from version n of "vector_idx" meets the first one: conflict.
  auto conflict = commit_create_index({dir_.string(), n, make_index("vector_idx", 0x55, n)});
  EXPECT_EQ(conflict.status().code(), StatusCode::kConflict) << conflict.status().to_string();
  EXPECT_EQ((*dataset::Dataset::open(dir_.string()))->version(), n + 2);
  // No temporary manifests or orphan transactions are left behind.
  size_t txns = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "_versions")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  for (const auto& e : fs::directory_iterator(dir_ / "_transactions")) txns += e.path().extension() == ".txn";
  EXPECT_EQ(txns, n + 2);
}

}  // namespace
}  // namespace lancer::lance
