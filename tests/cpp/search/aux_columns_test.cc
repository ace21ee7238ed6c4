// The auxiliary.idx columns as Lance 2.1/2.2 writes them: `_rowid` pages in
// mini-block layout with inline-bitpacked, out-of-line-bitpacked or flat
// 64-bit values, constant pages, and mini-block FixedSizeList<uint8> code
// pages; reads that cross pages; damaged and unsupported pages refused with
// a status. The files are built here byte by byte (format notes 2.1, 2.8).
#include "search/aux_columns.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "encodings_v2_0.pb.h"
#include "encodings_v2_1.pb.h"
#include "file2.pb.h"
#include "google/protobuf/any.pb.h"
#include "lance/file_writer.h"

namespace lancer::search {
namespace {

namespace v21 = ::lance::encodings21;
namespace fs = std::filesystem;

constexpr size_t kOrder[8] = {0, 4, 2, 6, 1, 5, 3, 7};

// FastLanes packing of 1024 u64 values at `width` bits (inverse of the reader's layout).
std::vector<uint64_t> pack_block(const std::vector<uint64_t>& block, size_t width) {
  constexpr size_t kLanes = 16;
  std::vector<uint64_t> words(1024 * width / 64, 0);
  for (size_t lane = 0; lane < kLanes; ++lane) {
    for (size_t row = 0; row < 64; ++row) {
      const uint64_t v = block[kOrder[row / 8] * 16 + (row % 8) * 128 + lane];
      const size_t bit = row * width, k = bit / 64, shift = bit % 64;
      words[k * kLanes + lane] |= v << shift;
      if (shift + width > 64) words[(k + 1) * kLanes + lane] |= v >> (64 - shift);
    }
  }
  return words;
}

void append(std::string* out, const void* p, size_t n) {
  out->append(static_cast<const char*>(p), n);
}
template <typename T>
void append_le(std::string* out, T v) {
  append(out, &v, sizeof(T));
}
void pad(std::string* out, size_t align, char byte) {
  while (out->size() % align != 0) out->push_back(byte);
}

// One mini-block chunk: header, one value buffer, padding.
std::string chunk(const std::string& values, bool large) {
  std::string c;
  append_le<uint16_t>(&c, 0);
  if (large)
    append_le<uint32_t>(&c, static_cast<uint32_t>(values.size()));
  else
    append_le<uint16_t>(&c, static_cast<uint16_t>(values.size()));
  pad(&c, 8, '\xfe');
  c += values;
  pad(&c, 8, '\0');
  return c;
}

struct Page {
  uint64_t rows;
  std::vector<std::string> buffers;
  v21::PageLayout layout;
};

// A mini-block page from chunks (every chunk but the last holds 2^log2 values).
Page mini_block_page(const std::vector<std::pair<std::string, unsigned>>& chunks, uint64_t rows,
                     const v21::CompressiveEncoding& values, bool large) {
  Page p;
  p.rows = rows;
  std::string words, data;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const uint32_t w =
        static_cast<uint32_t>((chunks[i].first.size() / 8 - 1) << 4) | (i + 1 < chunks.size() ? chunks[i].second : 0u);
    if (large)
      append_le<uint32_t>(&words, w);
    else
      append_le<uint16_t>(&words, static_cast<uint16_t>(w));
    data += chunks[i].first;
  }
  p.buffers = {words, data};
  auto* mb = p.layout.mutable_mini_block_layout();
  *mb->mutable_value_compression() = values;
  mb->add_layers(v21::REPDEF_ALL_VALID_ITEM);
  mb->set_num_buffers(1);
  mb->set_num_items(rows);
  mb->set_has_large_chunk(large);
  return p;
}

v21::CompressiveEncoding inline_bitpacking() {
  v21::CompressiveEncoding e;
  e.mutable_inline_bitpacking()->set_uncompressed_bits_per_value(64);
  return e;
}
v21::CompressiveEncoding flat(uint64_t bits) {
  v21::CompressiveEncoding e;
  e.mutable_flat()->set_bits_per_value(bits);
  return e;
}
v21::CompressiveEncoding fsl_u8(uint64_t n) {
  v21::CompressiveEncoding e;
  e.mutable_fixed_size_list()->set_items_per_value(n);
  *e.mutable_fixed_size_list()->mutable_values() = flat(8);
  return e;
}

// Writes a 2.x file: columns of pages, schema `fields`; footer minor `minor`.
void write_file(const std::string& path, uint16_t minor, const std::vector<std::vector<Page>>& columns,
                const ::lance::file::Schema& schema, uint64_t rows) {
  std::string out;
  std::vector<std::string> metas;
  for (const auto& pages : columns) {
    ::lance::file::v2::ColumnMetadata cm;
    ::google::protobuf::Any col_any;
    col_any.set_type_url("/lance.encodings.ColumnEncoding");
    cm.mutable_encoding()->mutable_direct()->set_encoding(col_any.SerializeAsString());
    uint64_t first = 0;
    for (const Page& p : pages) {
      auto* page = cm.add_pages();
      for (const auto& b : p.buffers) {
        page->add_buffer_offsets(out.size());
        page->add_buffer_sizes(b.size());
        out += b;
        pad(&out, 64, '\x48');
      }
      page->set_length(p.rows);
      page->set_priority(first);
      first += p.rows;
      ::google::protobuf::Any any;
      any.set_type_url("/lance.encodings21.PageLayout");
      any.set_value(p.layout.SerializeAsString());
      page->mutable_encoding()->mutable_direct()->set_encoding(any.SerializeAsString());
    }
    metas.push_back(cm.SerializeAsString());
  }
  ::lance::file::FileDescriptor fd;
  *fd.mutable_schema() = schema;
  fd.set_length(rows);
  const std::string schema_bytes = fd.SerializeAsString();
  const uint64_t schema_at = out.size();
  out += schema_bytes;
  const uint64_t meta_start = out.size();
  std::vector<std::pair<uint64_t, uint64_t>> cmo;
  for (const auto& m : metas) {
    cmo.emplace_back(out.size(), m.size());
    out += m;
  }
  const uint64_t cmo_at = out.size();
  for (auto [o, s] : cmo) {
    append_le(&out, o);
    append_le(&out, s);
  }
  const uint64_t gbo_at = out.size();
  append_le(&out, schema_at);
  append_le<uint64_t>(&out, schema_bytes.size());
  append_le(&out, meta_start);
  append_le(&out, cmo_at);
  append_le(&out, gbo_at);
  append_le<uint32_t>(&out, 1);
  append_le<uint32_t>(&out, static_cast<uint32_t>(columns.size()));
  append_le<uint16_t>(&out, 2);
  append_le<uint16_t>(&out, minor);
  out += "LANC";
  std::ofstream(path, std::ios::binary).write(out.data(), static_cast<std::streamsize>(out.size()));
}

::lance::file::Schema aux_schema() {
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "_rowid", "uint64", true);
  *schema.add_fields() = lance::make_field(1, "__pq_code", "fixed_size_list:uint8:4", true);
  return schema;
}

class AuxColumnsTest : public ::testing::TestWithParam<uint16_t> {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(5);
    // Row addresses of three fragments, unsorted, as Lance's shuffler leaves them.
    ids_.resize(2500 + 10 + 100 + 2048);
    for (auto& id : ids_) id = (rng() % 3) << 32 | (rng() % 100000);
    for (size_t i = 2500; i < 2510; ++i) ids_[i] = (uint64_t{7} << 32) | 42;  // a constant page
    codes_.resize(ids_.size() * 4);
    for (auto& c : codes_) c = static_cast<uint8_t>(rng());
    large_ = GetParam() == 2;
    path_ = (fs::temp_directory_path() / ("lancer_aux_columns_" + std::to_string(GetParam()) + ".idx")).string();
  }
  void TearDown() override { fs::remove(path_); }

  // Page 0: 2500 inline-bitpacked rows in chunks of 1024, 1024, 452; page 1:
  // constant; page 2: 100 flat rows; page 3: 2048 out-of-line-bitpacked rows.
  std::vector<Page> rowid_pages() const {
    std::vector<Page> pages;
    std::vector<std::pair<std::string, unsigned>> chunks;
    for (size_t first = 0; first < 2500; first += 1024) {
      std::vector<uint64_t> block(1024, 0);
      for (size_t i = 0; i < 1024 && first + i < 2500; ++i) block[i] = ids_[first + i];
      const uint64_t width = 35;
      std::string values;
      append_le(&values, width);
      const auto words = pack_block(block, width);
      append(&values, words.data(), words.size() * 8);
      chunks.emplace_back(chunk(values, large_), 10u);
    }
    pages.push_back(mini_block_page(chunks, 2500, inline_bitpacking(), large_));
    Page constant;
    constant.rows = 10;
    constant.layout.mutable_constant_layout()->add_layers(v21::REPDEF_ALL_VALID_ITEM);
    constant.layout.mutable_constant_layout()->set_inline_value(
        std::string(reinterpret_cast<const char*>(&ids_[2500]), 8));
    pages.push_back(constant);
    pages.push_back(mini_block_page({{chunk(std::string(reinterpret_cast<const char*>(&ids_[2510]), 800), large_), 0}},
                                    100, flat(64), large_));
    std::vector<uint64_t> b0(ids_.begin() + 2610, ids_.begin() + 2610 + 1024), b1(ids_.begin() + 3634, ids_.end());
    std::string packed;
    for (const auto& b : {b0, b1}) {
      const auto words = pack_block(b, 35);
      append(&packed, words.data(), words.size() * 8);
    }
    v21::CompressiveEncoding ool;
    ool.mutable_out_of_line_bitpacking()->set_uncompressed_bits_per_value(64);
    *ool.mutable_out_of_line_bitpacking()->mutable_values() = flat(35);
    pages.push_back(mini_block_page({{chunk(packed, large_), 0}}, 2048, ool, large_));
    return pages;
  }

  // Two mini-block pages of 4-byte codes: 3000 rows (chunks of 1024) and the rest.
  std::vector<Page> code_pages() const {
    std::vector<Page> pages;
    for (auto [first, rows] : {std::pair<size_t, size_t>{0, 3000}, {3000, ids_.size() - 3000}}) {
      std::vector<std::pair<std::string, unsigned>> chunks;
      for (size_t at = 0; at < rows; at += 1024) {
        const size_t n = std::min<size_t>(1024, rows - at);
        chunks.emplace_back(chunk(std::string(reinterpret_cast<const char*>(&codes_[(first + at) * 4]), n * 4), large_),
                            10u);
      }
      pages.push_back(mini_block_page(chunks, rows, fsl_u8(4), large_));
    }
    return pages;
  }

  Result<std::shared_ptr<const lance::LanceFile>> write(const std::vector<Page>& rowids) {
    write_file(path_, GetParam(), {rowids, code_pages()}, aux_schema(), ids_.size());
    return lance::LanceFile::open(path_, "auxiliary.idx");
  }

  std::vector<uint64_t> ids_;
  std::vector<uint8_t> codes_;
  bool large_ = false;
  std::string path_;
};

TEST_P(AuxColumnsTest, ReadsEveryRowidLayoutAndCodesAcrossPages) {
  auto file = write(rowid_pages());
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto rowids = AuxColumn::open_u64(*file, 0);
  ASSERT_TRUE(rowids.ok()) << rowids.status().to_string();
  auto codes = AuxColumn::open_fsl(*file, 1, {lance::ElementType::kUInt8, 4});
  ASSERT_TRUE(codes.ok()) << codes.status().to_string();
  ASSERT_EQ(rowids->num_rows(), ids_.size());
  ASSERT_EQ(codes->num_rows(), ids_.size());
  // Whole column, then ranges that start and end inside chunks and pages.
  for (auto [start, count] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, ids_.size()}, {1000, 30}, {2040, 700}, {2499, 2}, {2505, 200}, {3000, 1658}, {4657, 1}, {17, 0}}) {
    std::vector<uint64_t> got(count);
    ASSERT_TRUE(rowids->read(start, count, reinterpret_cast<uint8_t*>(got.data())).ok()) << start;
    EXPECT_TRUE(std::equal(got.begin(), got.end(), ids_.begin() + static_cast<std::ptrdiff_t>(start))) << start;
    std::vector<uint8_t> got_codes(count * 4);
    ASSERT_TRUE(codes->read(start, count, got_codes.data()).ok()) << start;
    EXPECT_TRUE(std::equal(got_codes.begin(), got_codes.end(), codes_.begin() + static_cast<std::ptrdiff_t>(start * 4)))
        << start;
  }
  std::vector<uint64_t> one(1);
  Status past = rowids->read(ids_.size(), 1, reinterpret_cast<uint8_t*>(one.data()));
  EXPECT_EQ(past.code(), StatusCode::kCorruption) << past.to_string();
}

TEST_P(AuxColumnsTest, RefusesDamagedAndUnsupportedPages) {
  auto pages = rowid_pages();
  // A chunk table that claims more bytes than the chunk buffer holds.
  auto damaged = pages;
  damaged[0].buffers[1].resize(damaged[0].buffers[1].size() - 64);
  auto file = write(damaged);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto rowids = AuxColumn::open_u64(*file, 0);
  ASSERT_TRUE(rowids.ok());
  std::vector<uint64_t> got(10);
  Status st = rowids->read(0, 10, reinterpret_cast<uint8_t*>(got.data()));
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.to_string();

  // A bit width wider than the values.
  damaged = pages;
  const size_t width_at = 8;  // after the 6- or 4-byte chunk header, padded to 8
  damaged[0].buffers[1][width_at] = 65;
  file = write(damaged);
  ASSERT_TRUE(file.ok());
  rowids = AuxColumn::open_u64(*file, 0);
  ASSERT_TRUE(rowids.ok());
  st = rowids->read(0, 10, reinterpret_cast<uint8_t*>(got.data()));
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.to_string();

  // Run-length-encoded values: refused by name, not misread.
  auto unsupported = pages;
  v21::CompressiveEncoding rle;
  *rle.mutable_rle()->mutable_values() = flat(64);
  *rle.mutable_rle()->mutable_run_lengths() = flat(8);
  *unsupported[2].layout.mutable_mini_block_layout()->mutable_value_compression() = rle;
  file = write(unsupported);
  ASSERT_TRUE(file.ok());
  rowids = AuxColumn::open_u64(*file, 0);
  ASSERT_TRUE(rowids.ok());
  st = rowids->read(2510, 5, reinterpret_cast<uint8_t*>(got.data()));
  EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.to_string();
  // ... while the pages before it still read.
  EXPECT_TRUE(rowids->read(0, 10, reinterpret_cast<uint8_t*>(got.data())).ok());

  // Definition levels (null row ids) are refused too.
  unsupported = pages;
  unsupported[2].layout.mutable_mini_block_layout()->mutable_layers()->Set(0, v21::REPDEF_NULLABLE_ITEM);
  *unsupported[2].layout.mutable_mini_block_layout()->mutable_def_compression() = flat(16);
  file = write(unsupported);
  ASSERT_TRUE(file.ok());
  rowids = AuxColumn::open_u64(*file, 0);
  ASSERT_TRUE(rowids.ok());
  st = rowids->read(2510, 5, reinterpret_cast<uint8_t*>(got.data()));
  EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.to_string();
}

INSTANTIATE_TEST_SUITE_P(FileVersions, AuxColumnsTest, ::testing::Values(uint16_t{1}, uint16_t{2}),
                         [](const auto& param_info) { return "v2_" + std::to_string(param_info.param); });

TEST(AuxColumns, ReadsLancerWritten20FilesAcrossPages) {
  const std::string path = (fs::temp_directory_path() / "lancer_aux_columns_20.idx").string();
  std::vector<uint64_t> ids(300);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = (uint64_t{i % 3} << 32) | (i * 7);
  std::vector<float> flat_rows(ids.size() * 8);
  for (size_t i = 0; i < flat_rows.size(); ++i) flat_rows[i] = static_cast<float>(i) * 0.25f;
  auto writer = lance::LanceFileWriter::create(path, 2);
  ASSERT_TRUE(writer.ok());
  for (size_t first : {0, 120, 250}) {
    const size_t n = first == 0 ? 120 : first == 120 ? 130 : 50;
    ASSERT_TRUE((*writer)->append_flat_page(0, n, 64, 0, ids.data() + first, n * 8).ok());
    ASSERT_TRUE((*writer)->append_flat_page(1, n, 32, 8, flat_rows.data() + first * 8, n * 32).ok());
  }
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "_rowid", "uint64", true);
  *schema.add_fields() = lance::make_field(1, "flat", "fixed_size_list:float:8", false);
  ASSERT_TRUE((*writer)->finish(schema, ids.size()).ok());
  auto file = lance::LanceFile::open(path, "auxiliary.idx");
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto rowids = AuxColumn::open_u64(*file, 0);
  auto flat_col = AuxColumn::open_fsl(*file, 1, {lance::ElementType::kFloat32, 8});
  ASSERT_TRUE(rowids.ok() && flat_col.ok());
  std::vector<uint64_t> got(200);
  ASSERT_TRUE(rowids->read(100, 200, reinterpret_cast<uint8_t*>(got.data())).ok());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), ids.begin() + 100));
  std::vector<float> got_rows(200 * 8);
  ASSERT_TRUE(flat_col->read(100, 200, reinterpret_cast<uint8_t*>(got_rows.data())).ok());
  EXPECT_TRUE(std::equal(got_rows.begin(), got_rows.end(), flat_rows.begin() + 800));
  fs::remove(path);
}

}  // namespace
}  // namespace lancer::search
