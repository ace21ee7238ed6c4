#include "lance/file_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "lance/file_reader.h"
#include "lance/vector_page.h"

namespace lancer::lance {
namespace {

TEST(LanceFileWriter, RoundTripsThroughTheReader) {
  const std::string path = (std::filesystem::temp_directory_path() / "lancer_writer_test.lance").string();
  constexpr uint32_t kDim = 8;
  std::vector<uint64_t> ids(100);
  std::iota(ids.begin(), ids.end(), uint64_t{1} << 32);
  std::vector<float> vectors(ids.size() * kDim);
  for (size_t i = 0; i < vectors.size(); ++i) vectors[i] = static_cast<float>(i) * 0.5f - 3.0f;

  auto writer = LanceFileWriter::create(path, 2);
  ASSERT_TRUE(writer.ok());
  const std::string ivf = "ivf-buffer", codebook(1000, 'c');
  EXPECT_EQ(*(*writer)->add_global_buffer(ivf.data(), ivf.size()), 1u);
  EXPECT_EQ(*(*writer)->add_global_buffer(codebook.data(), codebook.size()), 2u);
  // Two pages per column, interleaved as a partition-by-partition merge writes them.
  for (size_t half = 0; half < 2; ++half) {
    ASSERT_TRUE((*writer)->append_flat_page(0, 50, 64, 0, ids.data() + half * 50, 400).ok());
    ASSERT_TRUE((*writer)->append_flat_page(1, 50, 32, kDim, vectors.data() + half * 50 * kDim, 50 * kDim * 4).ok());
  }
  ::lance::file::Schema schema;
  *schema.add_fields() = make_field(0, "_rowid", "uint64", true);
  *schema.add_fields() = make_field(1, "flat", "fixed_size_list:float:8", false);
  (*schema.mutable_metadata())["lance:ivf"] = "1";
  auto size = (*writer)->finish(schema, ids.size());
  ASSERT_TRUE(size.ok()) << size.status().to_string();
  EXPECT_EQ(*size, std::filesystem::file_size(path));

  auto file = LanceFile::open(path, "test.lance");
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ((*file)->version(), (FileVersion{2, 0}));
  EXPECT_EQ((*file)->num_rows(), ids.size());
  EXPECT_EQ((*file)->schema().fields(1).logical_type(), "fixed_size_list:float:8");
  EXPECT_EQ((*file)->schema().metadata().at("lance:ivf"), "1");
  auto gb1 = (*file)->read_global_buffer(1);
  ASSERT_TRUE(gb1.ok());
  EXPECT_EQ(std::string(gb1->begin(), gb1->end()), ivf);
  EXPECT_EQ((*file)->read_global_buffer(2)->size(), codebook.size());
  ASSERT_EQ((*file)->num_columns(), 2u);
  ASSERT_EQ((*file)->column(0).pages.size(), 2u);
  for (const auto& column : {(*file)->column(0), (*file)->column(1)}) {
    for (const auto& page : column.pages) EXPECT_EQ(page.buffers[0].offset % 64, 0u);
  }
  std::vector<uint64_t> got_ids(50);
  ASSERT_TRUE((*file)->file().read_at((*file)->column(0).pages[1].buffers[0].offset, 400, got_ids.data()).ok());
  EXPECT_TRUE(std::equal(got_ids.begin(), got_ids.end(), ids.begin() + 50));

  std::vector<float> got(50 * kDim);
  std::vector<uint8_t> valid(50);
  for (size_t p = 0; p < 2; ++p) {
    auto reader = VectorPageReader::open(**file, 1, p, {ElementType::kFloat32, kDim});
    ASSERT_TRUE(reader.ok()) << reader.status().to_string();
    ASSERT_TRUE((*reader)->read(0, 50, reinterpret_cast<uint8_t*>(got.data()), valid.data()).ok());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), vectors.begin() + p * 50 * kDim));
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lancer::lance
