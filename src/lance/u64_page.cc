#include "lance/u64_page.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "encodings_v2_0.pb.h"
#include "encodings_v2_1.pb.h"
#include "lance/bitpacking.h"

namespace lancer::lance {

namespace v20 = ::lance::encodings;
namespace v21 = ::lance::encodings21;

namespace {

constexpr uint64_t kMaxChunkValues = 32768;

// Values stored back to back at `offset`.
class ContiguousU64Page final : public U64PageReader {
 public:
  ContiguousU64Page(const LanceFile& file, uint64_t rows, uint64_t offset)
      : U64PageReader(file, rows), offset_(offset) {}
  Status read(uint64_t start, uint64_t count, uint64_t* out) override {
    return file_.file().read_at(offset_ + start * 8, count * 8, out);
  }

 private:
  uint64_t offset_;
};

// Every row holds the same value.
class ConstantU64Page final : public U64PageReader {
 public:
  ConstantU64Page(const LanceFile& file, uint64_t rows, uint64_t value) : U64PageReader(file, rows), value_(value) {}
  Status read(uint64_t, uint64_t count, uint64_t* out) override {
    std::fill_n(out, count, value_);
    return Status::OK();
  }

 private:
  uint64_t value_;
};

// 2.1+ mini-block chunks, each with a header and one value buffer that is
// flat, inline-bitpacked or out-of-line-bitpacked.
class MiniBlockU64Page final : public U64PageReader {
 public:
  enum class Values { kFlat, kInlineBitpacked, kOutOfLineBitpacked };
  struct Chunk {
    uint64_t first_row, rows, offset, bytes;
  };
  MiniBlockU64Page(const LanceFile& file, uint64_t rows, std::vector<Chunk> chunks, Values values, size_t width,
                   bool large, std::string where)
      : U64PageReader(file, rows),
        chunks_(std::move(chunks)),
        values_(values),
        width_(width),
        large_(large),
        where_(std::move(where)) {}

  Status read(uint64_t start, uint64_t count, uint64_t* out) override {
    uint64_t row = start;
    const uint64_t end = start + count;
    while (row < end) {
      auto it = std::upper_bound(chunks_.begin(), chunks_.end(), row,
                                 [](uint64_t r, const Chunk& c) { return r < c.first_row; });
      const size_t ci = static_cast<size_t>(it - chunks_.begin()) - 1;
      LANCER_RETURN_IF_ERROR(load_chunk(ci));
      const Chunk& c = chunks_[ci];
      const uint64_t n = std::min(end, c.first_row + c.rows) - row;
      std::memcpy(out + (row - start), decoded_.data() + (row - c.first_row), n * 8);
      row += n;
    }
    return Status::OK();
  }

 private:
  Status load_chunk(size_t ci) {
    if (loaded_ == static_cast<int64_t>(ci)) return Status::OK();
    loaded_ = -1;
    const Chunk& c = chunks_[ci];
    const std::string where = where_ + " mini-block chunk " + std::to_string(ci);
    raw_.resize(c.bytes);
    LANCER_RETURN_IF_ERROR(file_.file().read_at(c.offset, c.bytes, raw_.data()));
    const size_t header = 2 + (large_ ? 4 : 2);
    if (c.bytes < header) return Status::Corruption(where + " is shorter than its header");
    const uint8_t* p = raw_.data();
    if (core::load_le<uint16_t>(p) != 0) return Status::Corruption(where + " has rep/def levels, expected none");
    const uint64_t size = large_ ? core::load_le<uint32_t>(p + 2) : core::load_le<uint16_t>(p + 2);
    const uint64_t at = (header + 7) & ~uint64_t{7};
    if (at > c.bytes || size > c.bytes - at) {
      return Status::Corruption(where + " value buffer of " + std::to_string(size) + " bytes overruns the chunk (" +
                                std::to_string(c.bytes) + " bytes)");
    }
    decoded_.resize(c.rows);
    switch (values_) {
      case Values::kFlat:
        if (size != c.rows * 8) {
          return Status::Corruption(where + " holds " + std::to_string(size) + " bytes for " + std::to_string(c.rows) +
                                    " 64-bit values");
        }
        std::memcpy(decoded_.data(), p + at, size);
        break;
      case Values::kInlineBitpacked: {
        auto used = unpack_inline_bitpacked<uint64_t>(p + at, size, c.rows, decoded_.data());
        if (!used.ok()) return used.status().context(where);
        break;
      }
      case Values::kOutOfLineBitpacked:
        LANCER_RETURN_IF_ERROR(
            unpack_out_of_line_bitpacked<uint64_t>(p + at, size, c.rows, width_, decoded_.data()).context(where));
        break;
    }
    loaded_ = static_cast<int64_t>(ci);
    return Status::OK();
  }

  std::vector<Chunk> chunks_;
  Values values_;
  size_t width_;
  bool large_;
  std::string where_;
  int64_t loaded_ = -1;
  std::vector<uint8_t> raw_;
  std::vector<uint64_t> decoded_;
};

class Opener {
 public:
  Opener(const LanceFile& file, size_t column, size_t page)
      : file_(file),
        info_(file.column(column).pages[page]),
        where_("column " + std::to_string(column) + " page " + std::to_string(page)) {}

  Result<std::unique_ptr<U64PageReader>> open() {
    if (file_.version().minor == 0) {
      if (info_.encoding_type_url != "/lance.encodings.ArrayEncoding") return wrong_url();
      return open_v20();
    }
    if (info_.encoding_type_url != "/lance.encodings21.PageLayout") return wrong_url();
    return open_v21();
  }

 private:
  Status corrupt(const std::string& what) const { return Status::Corruption(where_ + ": " + what); }
  Status unsupported(const std::string& what) const {
    return Status::NotSupported(where_ + " (uint64): " + what + " is not supported");
  }
  Status wrong_url() const {
    return corrupt("page encoding has type \"" + info_.encoding_type_url + "\", unexpected for file version " +
                   file_.version().to_string());
  }
  Status check_buffer(size_t index, uint64_t expected) const {
    if (index >= info_.buffers.size()) {
      return corrupt("buffer " + std::to_string(index) + " is missing (page has " +
                     std::to_string(info_.buffers.size()) + " buffers)");
    }
    if (info_.buffers[index].size != expected) {
      return corrupt("buffer is " + std::to_string(info_.buffers[index].size) + " bytes, expected " +
                     std::to_string(expected) + " for " + std::to_string(info_.num_rows) + " 64-bit values");
    }
    return Status::OK();
  }

  Result<std::unique_ptr<U64PageReader>> open_v20() {
    v20::ArrayEncoding enc;
    if (!enc.ParseFromString(info_.encoding)) return corrupt("page encoding is not a valid ArrayEncoding");
    const v20::ArrayEncoding* values = &enc;
    if (enc.array_encoding_case() == v20::ArrayEncoding::kNullable) {
      if (enc.nullable().nullability_case() != v20::Nullable::kNoNulls) return unsupported("a page with nulls");
      values = &enc.nullable().no_nulls().values();
    }
    if (values->array_encoding_case() != v20::ArrayEncoding::kFlat) return unsupported("a non-flat 2.0 page");
    const auto& flat = values->flat();
    if (flat.bits_per_value() != 64) return corrupt(std::to_string(flat.bits_per_value()) + "-bit flat values");
    if (flat.has_compression() && !flat.compression().scheme().empty()) {
      return unsupported("compression \"" + flat.compression().scheme() + "\"");
    }
    if (flat.buffer().buffer_type() != v20::Buffer::page) return unsupported("a column or file buffer");
    const uint32_t b = flat.buffer().buffer_index();
    LANCER_RETURN_IF_ERROR(check_buffer(b, info_.num_rows * 8));
    return std::unique_ptr<U64PageReader>(new ContiguousU64Page(file_, info_.num_rows, info_.buffers[b].offset));
  }

  Status check_all_valid(const google::protobuf::RepeatedField<int>& layers) const {
    if (layers.size() != 1 || layers[0] != v21::REPDEF_ALL_VALID_ITEM) {
      return unsupported("a page with nulls or list levels");
    }
    return Status::OK();
  }

  static bool is_flat(const v21::CompressiveEncoding& e, uint64_t bits) {
    return e.compression_case() == v21::CompressiveEncoding::kFlat && e.flat().bits_per_value() == bits &&
           !e.flat().has_data();
  }

  Result<std::unique_ptr<U64PageReader>> open_v21() {
    v21::PageLayout layout;
    if (!layout.ParseFromString(info_.encoding)) return corrupt("page encoding is not a valid PageLayout");
    const uint64_t rows = info_.num_rows;
    switch (layout.layout_case()) {
      case v21::PageLayout::kMiniBlockLayout: return open_mini_block(layout.mini_block_layout());
      case v21::PageLayout::kConstantLayout: {
        const auto& c = layout.constant_layout();
        LANCER_RETURN_IF_ERROR(check_all_valid(c.layers()));
        if (!c.has_inline_value() || c.inline_value().size() != 8) {
          return corrupt("constant page without an 8-byte inline value");
        }
        return std::unique_ptr<U64PageReader>(new ConstantU64Page(
            file_, rows, core::load_le<uint64_t>(reinterpret_cast<const uint8_t*>(c.inline_value().data()))));
      }
      case v21::PageLayout::kFullZipLayout: {
        const auto& fz = layout.full_zip_layout();
        LANCER_RETURN_IF_ERROR(check_all_valid(fz.layers()));
        if (fz.bits_rep() != 0 || fz.bits_def() != 0 || fz.details_case() != v21::FullZipLayout::kBitsPerValue ||
            fz.bits_per_value() != 64 || !is_flat(fz.value_compression(), 64)) {
          return unsupported("this full-zip layout");
        }
        if (info_.buffers.size() != 1)
          return corrupt("full-zip page with " + std::to_string(info_.buffers.size()) + " buffers");
        LANCER_RETURN_IF_ERROR(check_buffer(0, rows * 8));
        return std::unique_ptr<U64PageReader>(new ContiguousU64Page(file_, rows, info_.buffers[0].offset));
      }
      case v21::PageLayout::kBlobLayout: return unsupported("blob layout");
      case v21::PageLayout::kSparseLayout: return unsupported("sparse layout (file version 2.3)");
      default: return corrupt("page layout is empty or unknown");
    }
  }

  Result<std::unique_ptr<U64PageReader>> open_mini_block(const v21::MiniBlockLayout& mb) {
    const uint64_t rows = info_.num_rows;
    if (mb.has_rep_compression() || mb.has_def_compression()) return unsupported("a mini-block page with levels");
    if (mb.has_dictionary() || mb.num_dictionary_items() != 0) return unsupported("a dictionary");
    if (mb.repetition_index_depth() != 0) return unsupported("a repetition index");
    if (mb.num_buffers() != 1) return unsupported(std::to_string(mb.num_buffers()) + " value buffers per chunk");
    if (mb.num_items() != rows) {
      return corrupt("mini-block page has " + std::to_string(mb.num_items()) + " items for " + std::to_string(rows) +
                     " rows");
    }
    LANCER_RETURN_IF_ERROR(check_all_valid(mb.layers()));
    using V = MiniBlockU64Page::Values;
    const auto& vc = mb.value_compression();
    V values;
    size_t width = 0;
    if (is_flat(vc, 64)) {
      values = V::kFlat;
    } else if (vc.compression_case() == v21::CompressiveEncoding::kInlineBitpacking &&
               vc.inline_bitpacking().uncompressed_bits_per_value() == 64 && !vc.inline_bitpacking().has_values()) {
      values = V::kInlineBitpacked;
    } else if (vc.compression_case() == v21::CompressiveEncoding::kOutOfLineBitpacking &&
               vc.out_of_line_bitpacking().uncompressed_bits_per_value() == 64 &&
               vc.out_of_line_bitpacking().values().compression_case() == v21::CompressiveEncoding::kFlat &&
               !vc.out_of_line_bitpacking().values().flat().has_data() &&
               vc.out_of_line_bitpacking().values().flat().bits_per_value() <= 64) {
      values = V::kOutOfLineBitpacked;
      width = vc.out_of_line_bitpacking().values().flat().bits_per_value();
    } else {
      return unsupported("mini-block values encoded as compression case " +
                         std::to_string(static_cast<int>(vc.compression_case())));
    }
    if (info_.buffers.size() != 2) {
      return unsupported("a mini-block page with " + std::to_string(info_.buffers.size()) + " buffers");
    }
    const bool large = mb.has_large_chunk();
    const size_t word_size = large ? 4 : 2;
    const BufferRange meta = info_.buffers[0], data = info_.buffers[1];
    if (meta.size % word_size != 0) return corrupt("mini-block chunk table is not a whole number of words");
    const uint64_t num_chunks = meta.size / word_size;
    if (num_chunks > rows + 1) return corrupt("mini-block page has more chunks than rows");
    if (rows > 0 && num_chunks == 0) return corrupt("mini-block page with rows but no chunks");
    LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> words, file_.file().read_range(meta.offset, meta.size));
    std::vector<MiniBlockU64Page::Chunk> chunks;
    chunks.reserve(num_chunks);
    uint64_t row = 0, offset = 0;
    for (uint64_t i = 0; i < num_chunks; ++i) {
      const uint32_t w = large ? core::load_le<uint32_t>(&words[i * 4]) : core::load_le<uint16_t>(&words[i * 2]);
      const uint64_t bytes = (uint64_t{w >> 4} + 1) * 8;
      uint64_t n;
      if (i + 1 < num_chunks) {
        n = uint64_t{1} << (w & 0xF);
        if (row + n > rows)
          return corrupt("mini-block chunks hold more values than the page's " + std::to_string(rows));
      } else {
        if (row >= rows) return corrupt("mini-block chunks leave no values for the last chunk");
        n = rows - row;
        if (n > kMaxChunkValues) return corrupt("last mini-block chunk would hold " + std::to_string(n) + " values");
      }
      if (offset + bytes > data.size) {
        return corrupt("mini-block chunk " + std::to_string(i) + " ends past the chunk buffer");
      }
      chunks.push_back({row, n, data.offset + offset, bytes});
      row += n;
      offset += bytes;
    }
    if (offset != data.size) {
      return corrupt("mini-block chunks cover " + std::to_string(offset) + " bytes of a " + std::to_string(data.size) +
                     "-byte chunk buffer");
    }
    return std::unique_ptr<U64PageReader>(
        new MiniBlockU64Page(file_, rows, std::move(chunks), values, width, large, where_));
  }

  const LanceFile& file_;
  const PageInfo& info_;
  std::string where_;
};

}  // namespace

Result<std::unique_ptr<U64PageReader>> U64PageReader::open(const LanceFile& file, size_t column, size_t page) {
  return Opener(file, column, page).open();
}

}  // namespace lancer::lance
