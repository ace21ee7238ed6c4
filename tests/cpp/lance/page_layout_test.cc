// The mini-block chunk reader on the mini-block pages of the pylance-written
// reader fixtures (2.1 and 2.2, with and without definition levels): chunk
// tables cover every row and byte, chunk headers describe buffers inside the
// chunk, and a table that disagrees with its chunk buffer is refused by name.
#include "lance/page_layout.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace lancer::lance {
namespace {

namespace fs = std::filesystem;
namespace v21 = ::lance::encodings21;

const fs::path kFixtures = fs::path(LANCER_SOURCE_DIR) / "tests/data/reader";

struct MiniBlockPage {
  std::shared_ptr<const LanceFile> file;
  const PageInfo* page;
  v21::MiniBlockLayout layout;
};

// Every mini-block page of every data file of the 2.1 / 2.2 fixtures.
std::vector<MiniBlockPage> mini_block_pages() {
  std::vector<MiniBlockPage> out;
  for (const auto& ds : fs::directory_iterator(kFixtures)) {
    const std::string name = ds.path().filename().string();
    if (ds.path().extension() != ".lance" || name.find("v2_0") != std::string::npos) continue;
    for (const auto& f : fs::directory_iterator(ds.path() / "data")) {
      auto file = LanceFile::open(f.path().string(), f.path().filename().string());
      EXPECT_TRUE(file.ok()) << file.status().to_string();
      if (!file.ok()) continue;
      for (size_t c = 0; c < (*file)->num_columns(); ++c) {
        for (const auto& page : (*file)->column(c).pages) {
          v21::PageLayout layout;
          if (!layout.ParseFromString(page.encoding) || !layout.has_mini_block_layout()) continue;
          out.push_back({*file, &page, layout.mini_block_layout()});
        }
      }
    }
  }
  return out;
}

TEST(PageLayout, ChunkTablesAndHeadersOfFixtures) {
  const auto pages = mini_block_pages();
  ASSERT_FALSE(pages.empty());
  size_t with_levels = 0;
  for (const auto& p : pages) {
    ASSERT_EQ(p.page->buffers.size(), 2u);
    const bool large = p.layout.has_large_chunk();
    auto chunks = parse_chunk_table(*p.file, p.page->buffers[0], p.page->buffers[1], large, p.page->num_rows, "page");
    ASSERT_TRUE(chunks.ok()) << chunks.status().to_string();
    uint64_t rows = 0, bytes = 0;
    std::vector<uint8_t> buffer;
    const bool has_levels = p.layout.has_def_compression();
    with_levels += has_levels;
    for (size_t i = 0; i < chunks->size(); ++i) {
      const MiniBlockChunk& c = (*chunks)[i];
      EXPECT_EQ(c.first_row, rows);
      EXPECT_EQ(c.offset, p.page->buffers[1].offset + bytes);
      EXPECT_LE(c.rows, kMaxChunkValues);
      EXPECT_EQ(find_chunk(*chunks, c.first_row), i);
      EXPECT_EQ(find_chunk(*chunks, c.first_row + c.rows - 1), i);
      auto view = read_chunk(*p.file, *chunks, i, large, has_levels, has_levels ? c.rows : 0, "page", &buffer);
      ASSERT_TRUE(view.ok()) << view.status().to_string();
      EXPECT_EQ(view->where, "page mini-block chunk " + std::to_string(i));
      EXPECT_GE(view->values, buffer.data());
      EXPECT_LE(view->values + view->values_size, buffer.data() + buffer.size());
      EXPECT_EQ((view->values - buffer.data()) % 8, 0);
      // The wrong level count is refused.
      auto wrong = read_chunk(*p.file, *chunks, i, large, has_levels, has_levels ? c.rows + 1 : 1, "page", &buffer);
      EXPECT_EQ(wrong.status().code(), StatusCode::kCorruption);
      rows += c.rows;
      bytes += c.bytes;
    }
    EXPECT_EQ(rows, p.page->num_rows);
    EXPECT_EQ(bytes, p.page->buffers[1].size);
  }
  EXPECT_GT(with_levels, 0u) << "no fixture page has definition levels";
}

TEST(PageLayout, TablesThatDisagreeWithTheChunkBufferAreRefused) {
  const auto pages = mini_block_pages();
  ASSERT_FALSE(pages.empty());
  const auto& p = pages.front();
  const bool large = p.layout.has_large_chunk();
  BufferRange meta = p.page->buffers[0], data = p.page->buffers[1];

  BufferRange shorter = data;
  shorter.size -= 8;
  auto st = parse_chunk_table(*p.file, meta, shorter, large, p.page->num_rows, "column 1 page 0").status();
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("column 1 page 0: mini-block chunk"), std::string::npos) << st.message();

  BufferRange longer = data;
  longer.size += 64;
  st = parse_chunk_table(*p.file, meta, longer, large, p.page->num_rows, "page").status();
  EXPECT_NE(st.message().find("mini-block chunks cover"), std::string::npos) << st.message();

  BufferRange odd = meta;
  odd.size += 1;
  st = parse_chunk_table(*p.file, odd, data, large, p.page->num_rows, "page").status();
  EXPECT_NE(st.message().find("is not a whole number of"), std::string::npos) << st.message();

  BufferRange none = meta;
  none.size = 0;
  st = parse_chunk_table(*p.file, none, data, large, p.page->num_rows, "page").status();
  EXPECT_NE(st.message().find("rows but no chunks"), std::string::npos) << st.message();
}

TEST(PageLayout, RecognisesValueEncodings) {
  v21::CompressiveEncoding flat;
  flat.mutable_flat()->set_bits_per_value(16);
  EXPECT_TRUE(is_flat(flat, 16));
  EXPECT_FALSE(is_flat(flat, 64));
  EXPECT_FALSE(is_inline_bitpacked(flat, 16));
  EXPECT_FALSE(out_of_line_width(flat, 16));

  v21::CompressiveEncoding inline_bp;
  inline_bp.mutable_inline_bitpacking()->set_uncompressed_bits_per_value(64);
  EXPECT_TRUE(is_inline_bitpacked(inline_bp, 64));
  EXPECT_FALSE(is_inline_bitpacked(inline_bp, 16));

  v21::CompressiveEncoding ool;
  ool.mutable_out_of_line_bitpacking()->set_uncompressed_bits_per_value(64);
  ool.mutable_out_of_line_bitpacking()->mutable_values()->mutable_flat()->set_bits_per_value(13);
  EXPECT_EQ(out_of_line_width(ool, 64), std::optional<size_t>(13));
  EXPECT_FALSE(out_of_line_width(ool, 16));
  ool.mutable_out_of_line_bitpacking()->mutable_values()->mutable_flat()->set_bits_per_value(65);
  EXPECT_FALSE(out_of_line_width(ool, 64));
}

}  // namespace
}  // namespace lancer::lance
