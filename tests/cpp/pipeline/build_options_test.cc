// The one table of build options: every key of the staging record is derived
// from it, names map to CLI flags, and spellings are made canonical in one place.
#include "lancer/build_options.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "pipeline/staging.h"

namespace lancer {
namespace {

TEST(BuildOptions, StagingRecordKeysComeFromTheTable) {
  // Keys of build.json's params: an option's name, or a checksum of an option's file.
  const auto j = pipeline::params_json(pipeline::BuildParams{});
  for (const auto& [key, value] : j.items()) {
    const std::string suffix = "_checksum";
    std::string option = key;
    if (key.size() > suffix.size() && key.ends_with(suffix)) option = key.substr(0, key.size() - suffix.size());
    EXPECT_NE(find_build_option(option), nullptr) << key;
  }
}

TEST(BuildOptions, NamesAreUniqueAndFlagsDashed) {
  std::set<std::string> names;
  for (const BuildOption& o : build_options()) EXPECT_TRUE(names.insert(std::string(o.name)).second) << o.name;
  ASSERT_NE(find_build_option("num_partitions"), nullptr);
  EXPECT_EQ(cli_flag(*find_build_option("num_partitions")), "--num-partitions");
  EXPECT_EQ(find_build_option("no_such_option"), nullptr);
}

TEST(BuildOptions, CanonicalSpellings) {
  CreateIndexOptions o;
  o.index_type = "ivf_pq";
  o.metric = "EUCLIDEAN";
  const CreateIndexOptions c = canonical_options(o);
  EXPECT_EQ(c.index_type, "IVF_PQ");
  EXPECT_EQ(c.metric, "l2");
  o.metric = "Cosine";
  EXPECT_EQ(canonical_options(o).metric, "cosine");
}

}  // namespace
}  // namespace lancer
