// Reads the pylance-written fixtures in tests/data/reader/ and compares every
// byte and row id with what pylance reported; then damages copies of them
// (truncation, bit flips) and checks the reader fails cleanly or stays exact.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "dataset/vector_stream.h"
#include "storage/read_npy.h"

namespace lancer::dataset {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(LANCER_SOURCE_DIR) / "tests/data/reader";

struct Expected {
  core::NpyArray values;
  core::NpyArray row_ids;
};

Expected load_expected(const std::string& name) {
  auto values = storage::read_npy((kFixtures / (name + ".expected.npy")).string());
  auto ids = storage::read_npy((kFixtures / (name + ".rowids.npy")).string());
  EXPECT_TRUE(values.ok()) << values.status().to_string();
  EXPECT_TRUE(ids.ok()) << ids.status().to_string();
  return {std::move(values).value(), std::move(ids).value()};
}

// Streams the whole column; returns the status and what was read.
Status read_all(const std::string& uri, const std::string& column, size_t batch_bytes, std::vector<uint8_t>* values,
                std::vector<uint64_t>* ids, StreamStats* stats = nullptr) {
  LANCER_ASSIGN_OR_RETURN(auto ds, Dataset::open(uri));
  StreamOptions options;
  options.batch_bytes = batch_bytes;
  LANCER_ASSIGN_OR_RETURN(auto stream, VectorStream::open(ds, column, options));
  VectorBatch batch;
  for (;;) {
    LANCER_ASSIGN_OR_RETURN(bool more, stream->next(&batch));
    if (!more) break;
    EXPECT_EQ(batch.values.size(), batch.num_rows * batch.type.row_bytes());
    values->insert(values->end(), batch.values.begin(), batch.values.end());
    ids->insert(ids->end(), batch.row_ids.begin(), batch.row_ids.end());
  }
  if (stats) *stats = stream->stats();
  return Status::OK();
}

struct Fixture {
  const char* name;
  const char* column;
};

class ReaderFixtureTest : public ::testing::TestWithParam<Fixture> {};

TEST_P(ReaderFixtureTest, MatchesPylanceForEveryBatchSize) {
  const Fixture f = GetParam();
  const Expected expected = load_expected(f.name);
  const std::string uri = (kFixtures / (std::string(f.name) + ".lance")).string();
  for (size_t batch_bytes : {1ul, 100ul, 4096ul, 1ul << 22}) {
    std::vector<uint8_t> values;
    std::vector<uint64_t> ids;
    StreamStats stats;
    Status st = read_all(uri, f.column, batch_bytes, &values, &ids, &stats);
    ASSERT_TRUE(st.ok()) << st.to_string();
    EXPECT_EQ(values, expected.values.data) << f.name << " batch_bytes " << batch_bytes;
    ASSERT_EQ(ids.size() * 8, expected.row_ids.data.size());
    EXPECT_EQ(0, std::memcmp(ids.data(), expected.row_ids.data.data(), expected.row_ids.data.size()));
    EXPECT_EQ(stats.rows, ids.size());
    EXPECT_GT(stats.null_rows, 0u);
  }
}

// Every damaged copy must give exactly the right answer or a clean error
// (ASan/UBSan builds turn any overrun into a failure).
TEST_P(ReaderFixtureTest, DamagedFilesFailCleanly) {
  const Fixture f = GetParam();
  const Expected expected = load_expected(f.name);
  const fs::path src = kFixtures / (std::string(f.name) + ".lance");
  const fs::path work =
      fs::temp_directory_path() / ("lancer_damage_" + std::string(f.name) + "_" + std::to_string(::getpid()));
  std::mt19937_64 rng(42);
  fs::path data_file;
  for (const auto& e : fs::directory_iterator(src / "data")) data_file = e.path().filename();
  int clean_errors = 0, exact = 0;
  for (int trial = 0; trial < 60; ++trial) {
    fs::remove_all(work);
    fs::copy(src, work, fs::copy_options::recursive);
    const fs::path victim = work / "data" / data_file;
    std::vector<char> bytes(fs::file_size(victim));
    std::ifstream(victim, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (trial < 20) {
      bytes.resize(rng() % bytes.size());
    } else {
      // Flip bits in the metadata tail, where the structure lives.
      const size_t tail = std::min<size_t>(bytes.size(), 2048);
      for (int k = 0; k < 1 + trial % 4; ++k)
        bytes[bytes.size() - 1 - rng() % tail] ^= static_cast<char>(1 << (rng() % 8));
    }
    std::ofstream(victim, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::vector<uint8_t> values;
    std::vector<uint64_t> ids;
    Status st = read_all(work.string(), f.column, 4096, &values, &ids);
    if (st.ok()) {
      ++exact;
      continue;  // a flip in padding or unused fields; other fragments must still be right
    }
    ++clean_errors;
    EXPECT_FALSE(st.message().empty());
    EXPECT_NE(st.code(), StatusCode::kInternal) << st.to_string();
  }
  fs::remove_all(work);
  EXPECT_GT(clean_errors, 0) << "no damage was detected at all";
  (void)exact;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReaderFixtureTest,
                         ::testing::Values(Fixture{"f32x16_v2_0", "vector"}, Fixture{"f32x16_v2_1", "vector"},
                                           Fixture{"f32x16_v2_2", "vector"}, Fixture{"f32x96_v2_2", "vector"},
                                           Fixture{"f16x8_v2_1", "vector"}, Fixture{"u8x300_v2_2", "vector"},
                                           Fixture{"struct_f32x16_v2_2", "meta.vector"},
                                           Fixture{"struct_f32x16_v2_0", "meta.vector"},
                                           Fixture{"f32x8_v2_1_levels", "vector"},
                                           Fixture{"f32x32_v2_1_levels", "vector"},
                                           Fixture{"f32x8_v2_2_levels", "vector"}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Dataset, UnknownColumnAndVersionAreNamed) {
  const std::string uri = (kFixtures / "f32x16_v2_1.lance").string();
  auto ds = Dataset::open(uri);
  ASSERT_TRUE(ds.ok());
  auto col = (*ds)->vector_column("nope");
  EXPECT_EQ(col.status().code(), StatusCode::kNotFound);
  EXPECT_NE(col.status().message().find("nope"), std::string::npos);
  auto not_vector = (*ds)->vector_column("label");
  EXPECT_EQ(not_vector.status().code(), StatusCode::kNotSupported);
  auto missing = Dataset::open(uri, 999);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto old = Dataset::open(uri, 1);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ((*old)->version(), 1u);
  EXPECT_EQ((*old)->fragments()[0].deleted_rows, 0u);
}

}  // namespace
}  // namespace lancer::dataset
