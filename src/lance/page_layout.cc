#include "lance/page_layout.h"

#include <algorithm>

#include "core/bytes.h"

namespace lancer::lance {

namespace v21 = ::lance::encodings21;

namespace {

uint64_t align8(uint64_t x) {
  return (x + 7) & ~uint64_t{7};
}

}  // namespace

Result<std::vector<MiniBlockChunk>> parse_chunk_table(const LanceFile& file, BufferRange meta, BufferRange data,
                                                      bool large, uint64_t rows, const std::string& where) {
  auto corrupt = [&](const std::string& what) { return Status::Corruption(where + ": " + what); };
  const size_t word_size = large ? 4 : 2;
  if (meta.size % word_size != 0) {
    return corrupt("mini-block chunk table of " + std::to_string(meta.size) + " bytes is not a whole number of " +
                   std::to_string(word_size) + "-byte words");
  }
  const uint64_t num_chunks = meta.size / word_size;
  if (num_chunks > rows + 1) return corrupt("mini-block page has more chunks than rows");
  if (rows > 0 && num_chunks == 0) return corrupt("mini-block page with rows but no chunks");
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> words, file.file().read_range(meta.offset, meta.size));
  std::vector<MiniBlockChunk> chunks;
  chunks.reserve(num_chunks);
  uint64_t row = 0, offset = 0;
  for (uint64_t i = 0; i < num_chunks; ++i) {
    // A word is (bytes / 8 - 1) << 4 | log2(rows); the last chunk's rows are what is left.
    const uint32_t w = large ? core::load_le<uint32_t>(&words[i * 4]) : core::load_le<uint16_t>(&words[i * 2]);
    const uint64_t bytes = (uint64_t{w >> 4} + 1) * 8;
    uint64_t n;
    if (i + 1 < num_chunks) {
      n = uint64_t{1} << (w & 0xF);
      if (row + n > rows) return corrupt("mini-block chunks hold more values than the page's " + std::to_string(rows));
    } else {
      if (row >= rows) return corrupt("mini-block chunks leave no values for the last chunk");
      n = rows - row;
      if (n > kMaxChunkValues) return corrupt("last mini-block chunk would hold " + std::to_string(n) + " values");
    }
    if (offset + bytes > data.size) {
      return corrupt("mini-block chunk " + std::to_string(i) + " ends at byte " + std::to_string(offset + bytes) +
                     " of a " + std::to_string(data.size) + "-byte chunk buffer");
    }
    chunks.push_back({row, n, data.offset + offset, bytes});
    row += n;
    offset += bytes;
  }
  if (offset != data.size) {
    return corrupt("mini-block chunks cover " + std::to_string(offset) + " bytes of a " + std::to_string(data.size) +
                   "-byte chunk buffer");
  }
  return chunks;
}

size_t find_chunk(const std::vector<MiniBlockChunk>& chunks, uint64_t row) {
  auto it = std::upper_bound(chunks.begin(), chunks.end(), row,
                             [](uint64_t r, const MiniBlockChunk& c) { return r < c.first_row; });
  return static_cast<size_t>(it - chunks.begin()) - 1;
}

Result<ChunkView> read_chunk(const LanceFile& file, const std::vector<MiniBlockChunk>& chunks, size_t index, bool large,
                             bool has_levels, uint64_t expected_levels, const std::string& where,
                             std::vector<uint8_t>* buffer) {
  const MiniBlockChunk& c = chunks[index];
  ChunkView view;
  view.where = where + " mini-block chunk " + std::to_string(index);
  buffer->resize(c.bytes);
  LANCER_RETURN_IF_ERROR(file.file().read_at(c.offset, c.bytes, buffer->data()));
  const size_t size_word = large ? 4 : 2;
  const size_t header = 2 + (has_levels ? 2 : 0) + size_word;
  if (c.bytes < header) return Status::Corruption(view.where + " is shorter than its header");
  const uint8_t* p = buffer->data();
  const uint16_t num_levels = core::load_le<uint16_t>(p);
  size_t pos = 2;
  if (has_levels) {
    view.levels_size = core::load_le<uint16_t>(p + pos);
    pos += 2;
  }
  view.values_size = large ? core::load_le<uint32_t>(p + pos) : core::load_le<uint16_t>(p + pos);
  pos += size_word;
  if (num_levels != expected_levels) {
    return Status::Corruption(view.where + " has " + std::to_string(num_levels) + " levels, expected " +
                              std::to_string(expected_levels));
  }
  uint64_t cursor = align8(pos);
  const uint64_t levels_at = cursor;
  if (has_levels) cursor = align8(cursor + view.levels_size);
  const uint64_t values_at = cursor;
  if (values_at > c.bytes || view.values_size > c.bytes - values_at) {
    return Status::Corruption(view.where + " buffers overrun the chunk (" + std::to_string(c.bytes) + " bytes)");
  }
  view.levels = p + levels_at;
  view.values = p + values_at;
  return view;
}

bool is_flat(const v21::CompressiveEncoding& e, uint64_t bits) {
  return e.compression_case() == v21::CompressiveEncoding::kFlat && e.flat().bits_per_value() == bits &&
         !e.flat().has_data();
}

bool is_inline_bitpacked(const v21::CompressiveEncoding& e, uint64_t bits) {
  return e.compression_case() == v21::CompressiveEncoding::kInlineBitpacking &&
         e.inline_bitpacking().uncompressed_bits_per_value() == bits && !e.inline_bitpacking().has_values();
}

std::optional<size_t> out_of_line_width(const v21::CompressiveEncoding& e, uint64_t bits) {
  if (e.compression_case() != v21::CompressiveEncoding::kOutOfLineBitpacking) return std::nullopt;
  const auto& ool = e.out_of_line_bitpacking();
  if (ool.uncompressed_bits_per_value() != bits || ool.values().compression_case() != v21::CompressiveEncoding::kFlat ||
      ool.values().flat().has_data() || ool.values().flat().bits_per_value() > bits) {
    return std::nullopt;
  }
  return static_cast<size_t>(ool.values().flat().bits_per_value());
}

Status PageOpenerBase::check_encoding_url() const {
  const char* expected = is_v20() ? "/lance.encodings.ArrayEncoding" : "/lance.encodings21.PageLayout";
  if (info_.encoding_type_url == expected) return Status::OK();
  return corrupt("page encoding has type \"" + info_.encoding_type_url + "\", unexpected for file version " +
                 file_.version().to_string());
}

Result<::lance::encodings::ArrayEncoding> PageOpenerBase::parse_array_encoding() const {
  ::lance::encodings::ArrayEncoding enc;
  if (!enc.ParseFromString(info_.encoding)) return corrupt("page encoding is not a valid ArrayEncoding");
  return enc;
}

Result<v21::PageLayout> PageOpenerBase::parse_page_layout() const {
  v21::PageLayout layout;
  if (!layout.ParseFromString(info_.encoding)) return corrupt("page encoding is not a valid PageLayout");
  return layout;
}

Status PageOpenerBase::check_mini_block_items(const v21::MiniBlockLayout& mb) const {
  if (mb.num_items() == info_.num_rows) return Status::OK();
  return corrupt("mini-block page has " + std::to_string(mb.num_items()) + " items for " +
                 std::to_string(info_.num_rows) + " rows");
}

Status PageOpenerBase::check_buffer(size_t index, uint64_t expected, const std::string& role,
                                    const std::string& rows_of) const {
  const std::string prefix = role.empty() ? "" : role + " ";
  if (index >= info_.buffers.size()) {
    return corrupt(prefix + "buffer " + std::to_string(index) + " is missing (page has " +
                   std::to_string(info_.buffers.size()) + " buffers)");
  }
  if (info_.buffers[index].size != expected) {
    return corrupt(prefix + "buffer is " + std::to_string(info_.buffers[index].size) + " bytes, expected " +
                   std::to_string(expected) + " for " + rows_of);
  }
  return Status::OK();
}

}  // namespace lancer::lance
