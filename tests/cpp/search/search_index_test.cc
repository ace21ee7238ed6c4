// search_index over an index lancer builds on a copy of a pylance-written fixture: the queries
// it is given are whole queries or an error, never a silently dropped remainder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "lancer/create_index.h"
#include "lancer/search.h"

namespace lancer {
namespace {

namespace fs = std::filesystem;

class SearchIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lancer_search_index_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::copy(fs::path(LANCER_SOURCE_DIR) / "tests/data/reader/f32x16_v2_1.lance", dir_, fs::copy_options::recursive);
    CreateIndexOptions o;
    o.uri = dir_.string();
    o.column = "vector";
    o.index_type = "IVF_FLAT";
    o.metric = "euclidean";
    o.num_partitions = 2;
    auto report = create_index(o);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    name_ = report->name;
  }
  void TearDown() override { fs::remove_all(dir_); }
  SearchOptions options() const {
    SearchOptions o;
    o.uri = dir_.string();
    o.index_name = name_;
    o.k = 3;
    o.nprobes = 2;
    return o;
  }
  fs::path dir_;
  std::string name_;
};

TEST_F(SearchIndexTest, APartialTrailingQueryIsRefused) {
  std::vector<float> queries(2 * 16, 0.5f);
  auto whole = search_index(options(), queries, 16);
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  ASSERT_EQ(whole->size(), 2u);
  EXPECT_EQ((*whole)[0].size(), 3u);
  queries.resize(2 * 16 + 5, 0.5f);
  auto partial = search_index(options(), queries, 16);
  ASSERT_FALSE(partial.ok()) << "the last 5 values were dropped";
  EXPECT_EQ(partial.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(partial.status().message().find("5 left over"), std::string::npos) << partial.status().message();
}

}  // namespace
}  // namespace lancer
