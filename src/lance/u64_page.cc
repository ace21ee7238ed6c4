#include "lance/u64_page.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "encodings_v2_0.pb.h"
#include "encodings_v2_1.pb.h"
#include "lance/bitpacking.h"
#include "lance/page_layout.h"

namespace lancer::lance {

namespace v20 = ::lance::encodings;
namespace v21 = ::lance::encodings21;

namespace {

// Values stored back to back.
class ContiguousU64Page final : public U64PageReader {
 public:
  ContiguousU64Page(const LanceFile& file, uint64_t rows, uint64_t offset)
      : U64PageReader(file, rows), values_{offset, 8} {}
  Status read(uint64_t start, uint64_t count, uint64_t* out) override { return values_.read(file_, start, count, out); }

 private:
  ContiguousValues values_;
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
  MiniBlockU64Page(const LanceFile& file, uint64_t rows, std::vector<MiniBlockChunk> chunks, Values values,
                   size_t width, bool large, std::string where)
      : U64PageReader(file, rows),
        chunks_(file, std::move(chunks), large, false, std::move(where)),
        values_(values),
        width_(width) {}

  Status read(uint64_t start, uint64_t count, uint64_t* out) override {
    return chunks_.read(
        start, count, [&](const MiniBlockChunk& c, const ChunkView& chunk) { return decode(c, chunk); },
        [&](uint64_t from, uint64_t n, uint64_t at) { std::memcpy(out + at, decoded_.data() + from, n * 8); });
  }

 private:
  Status decode(const MiniBlockChunk& c, const ChunkView& chunk) {
    decoded_.resize(c.rows);
    switch (values_) {
      case Values::kFlat:
        if (chunk.values_size != c.rows * 8) {
          return Status::Corruption(chunk.where + " holds " + std::to_string(chunk.values_size) + " bytes for " +
                                    std::to_string(c.rows) + " 64-bit values");
        }
        std::memcpy(decoded_.data(), chunk.values, chunk.values_size);
        break;
      case Values::kInlineBitpacked: {
        auto used = unpack_inline_bitpacked<uint64_t>(chunk.values, chunk.values_size, c.rows, decoded_.data());
        if (!used.ok()) return used.status().context(chunk.where);
        break;
      }
      case Values::kOutOfLineBitpacked:
        LANCER_RETURN_IF_ERROR(
            unpack_out_of_line_bitpacked<uint64_t>(chunk.values, chunk.values_size, c.rows, width_, decoded_.data())
                .context(chunk.where));
        break;
    }
    return Status::OK();
  }

  MiniBlockChunks chunks_;
  Values values_;
  size_t width_;
  std::vector<uint64_t> decoded_;
};

class Opener : PageOpenerBase {
 public:
  Opener(const LanceFile& file, size_t column, size_t page) : PageOpenerBase(file, column, page) {}

  Result<std::unique_ptr<U64PageReader>> open() {
    LANCER_RETURN_IF_ERROR(check_encoding_url());
    return is_v20() ? open_v20() : open_v21();
  }

 private:
  Status unsupported(const std::string& what) const {
    return Status::NotSupported(where_ + " (uint64): " + what + " is not supported");
  }
  Status check_buffer(size_t index, uint64_t expected) const {
    return PageOpenerBase::check_buffer(index, expected, "", std::to_string(info_.num_rows) + " 64-bit values");
  }

  Result<std::unique_ptr<U64PageReader>> open_v20() {
    LANCER_ASSIGN_OR_RETURN(const v20::ArrayEncoding enc, parse_array_encoding());
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

  Result<std::unique_ptr<U64PageReader>> open_v21() {
    LANCER_ASSIGN_OR_RETURN(const v21::PageLayout layout, parse_page_layout());
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
    LANCER_RETURN_IF_ERROR(check_mini_block_items(mb));
    LANCER_RETURN_IF_ERROR(check_all_valid(mb.layers()));
    using V = MiniBlockU64Page::Values;
    const auto& vc = mb.value_compression();
    V values;
    size_t width = 0;
    if (is_flat(vc, 64)) {
      values = V::kFlat;
    } else if (is_inline_bitpacked(vc, 64)) {
      values = V::kInlineBitpacked;
    } else if (auto w = out_of_line_width(vc, 64)) {
      values = V::kOutOfLineBitpacked;
      width = *w;
    } else {
      return unsupported("mini-block values encoded as compression case " +
                         std::to_string(static_cast<int>(vc.compression_case())));
    }
    if (info_.buffers.size() != 2) {
      return unsupported("a mini-block page with " + std::to_string(info_.buffers.size()) + " buffers");
    }
    const bool large = mb.has_large_chunk();
    LANCER_ASSIGN_OR_RETURN(auto chunks,
                            parse_chunk_table(file_, info_.buffers[0], info_.buffers[1], large, rows, where_));
    return std::unique_ptr<U64PageReader>(
        new MiniBlockU64Page(file_, rows, std::move(chunks), values, width, large, where_));
  }
};

}  // namespace

Result<std::unique_ptr<U64PageReader>> U64PageReader::open(const LanceFile& file, size_t column, size_t page) {
  return Opener(file, column, page).open();
}

}  // namespace lancer::lance
