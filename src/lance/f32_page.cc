#include "lance/f32_page.h"

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

class ContiguousF32Page final : public F32PageReader {
 public:
  ContiguousF32Page(const LanceFile& file, uint64_t offset) : F32PageReader(file), values_{offset, 4} {}
  Status read(uint64_t start, uint64_t count, uint32_t* out) override { return values_.read(file_, start, count, out); }

 private:
  ContiguousValues values_;
};

class ConstantF32Page final : public F32PageReader {
 public:
  ConstantF32Page(const LanceFile& file, uint32_t bits) : F32PageReader(file), bits_(bits) {}
  Status read(uint64_t, uint64_t count, uint32_t* out) override {
    std::fill_n(out, count, bits_);
    return Status::OK();
  }

 private:
  uint32_t bits_;
};

class MiniBlockF32Page final : public F32PageReader {
 public:
  MiniBlockF32Page(const LanceFile& file, std::vector<MiniBlockChunk> chunks, bool bitpacked, bool large,
                   std::string where)
      : F32PageReader(file), chunks_(file, std::move(chunks), large, false, std::move(where)), bitpacked_(bitpacked) {}

  Status read(uint64_t start, uint64_t count, uint32_t* out) override {
    return chunks_.read(
        start, count, [&](const MiniBlockChunk& c, const ChunkView& chunk) { return decode(c, chunk); },
        [&](uint64_t from, uint64_t n, uint64_t at) { std::memcpy(out + at, decoded_.data() + from, n * 4); });
  }

 private:
  Status decode(const MiniBlockChunk& c, const ChunkView& chunk) {
    decoded_.resize(c.rows);
    if (bitpacked_) {
      auto used = unpack_inline_bitpacked<uint32_t>(chunk.values, chunk.values_size, c.rows, decoded_.data());
      return used.ok() ? Status::OK() : used.status().context(chunk.where);
    }
    if (chunk.values_size != c.rows * 4) {
      return Status::Corruption(chunk.where + " holds " + std::to_string(chunk.values_size) + " bytes for " +
                                std::to_string(c.rows) + " 32-bit values");
    }
    std::memcpy(decoded_.data(), chunk.values, chunk.values_size);
    return Status::OK();
  }

  MiniBlockChunks chunks_;
  bool bitpacked_;
  std::vector<uint32_t> decoded_;
};

class Opener : PageOpenerBase {
 public:
  Opener(const LanceFile& file, size_t column, size_t page) : PageOpenerBase(file, column, page) {}

  Result<std::unique_ptr<F32PageReader>> open() {
    LANCER_RETURN_IF_ERROR(check_encoding_url());
    return is_v20() ? open_v20() : open_v21();
  }

 private:
  Status unsupported(const std::string& what) const {
    return Status::NotSupported(where_ + " (float32): " + what + " is not supported");
  }

  Result<std::unique_ptr<F32PageReader>> open_v20() {
    LANCER_ASSIGN_OR_RETURN(const v20::ArrayEncoding enc, parse_array_encoding());
    const v20::ArrayEncoding* values = &enc;
    if (enc.array_encoding_case() == v20::ArrayEncoding::kNullable) {
      if (enc.nullable().nullability_case() != v20::Nullable::kNoNulls) return unsupported("a page with nulls");
      values = &enc.nullable().no_nulls().values();
    }
    if (values->array_encoding_case() != v20::ArrayEncoding::kFlat) return unsupported("a non-flat 2.0 page");
    const auto& flat = values->flat();
    if (flat.bits_per_value() != 32) return corrupt(std::to_string(flat.bits_per_value()) + "-bit flat values");
    if (flat.has_compression() && !flat.compression().scheme().empty()) {
      return unsupported("compression \"" + flat.compression().scheme() + "\"");
    }
    if (flat.buffer().buffer_type() != v20::Buffer::page) return unsupported("a column or file buffer");
    const uint32_t b = flat.buffer().buffer_index();
    LANCER_RETURN_IF_ERROR(check_buffer(b, info_.num_rows * 4, "", std::to_string(info_.num_rows) + " floats"));
    return std::unique_ptr<F32PageReader>(new ContiguousF32Page(file_, info_.buffers[b].offset));
  }

  Status check_all_valid(const google::protobuf::RepeatedField<int>& layers) const {
    if (layers.size() != 1 || layers[0] != v21::REPDEF_ALL_VALID_ITEM) {
      return unsupported("a page with nulls or list levels");
    }
    return Status::OK();
  }

  Result<std::unique_ptr<F32PageReader>> open_v21() {
    LANCER_ASSIGN_OR_RETURN(const v21::PageLayout layout, parse_page_layout());
    switch (layout.layout_case()) {
      case v21::PageLayout::kMiniBlockLayout: return open_mini_block(layout.mini_block_layout());
      case v21::PageLayout::kConstantLayout: {
        const auto& c = layout.constant_layout();
        LANCER_RETURN_IF_ERROR(check_all_valid(c.layers()));
        if (!c.has_inline_value() || c.inline_value().size() != 4) {
          return corrupt("constant page without a 4-byte inline value");
        }
        return std::unique_ptr<F32PageReader>(new ConstantF32Page(
            file_, core::load_le<uint32_t>(reinterpret_cast<const uint8_t*>(c.inline_value().data()))));
      }
      default: return unsupported("page layout case " + std::to_string(static_cast<int>(layout.layout_case())));
    }
  }

  Result<std::unique_ptr<F32PageReader>> open_mini_block(const v21::MiniBlockLayout& mb) {
    if (mb.has_rep_compression() || mb.has_def_compression()) return unsupported("a mini-block page with levels");
    if (mb.has_dictionary() || mb.num_dictionary_items() != 0) return unsupported("a dictionary");
    if (mb.repetition_index_depth() != 0) return unsupported("a repetition index");
    if (mb.num_buffers() != 1) return unsupported(std::to_string(mb.num_buffers()) + " value buffers per chunk");
    LANCER_RETURN_IF_ERROR(check_mini_block_items(mb));
    LANCER_RETURN_IF_ERROR(check_all_valid(mb.layers()));
    const auto& vc = mb.value_compression();
    bool bitpacked;
    if (is_flat(vc, 32)) {
      bitpacked = false;
    } else if (is_inline_bitpacked(vc, 32)) {
      bitpacked = true;
    } else {
      return unsupported("mini-block values encoded as compression case " +
                         std::to_string(static_cast<int>(vc.compression_case())));
    }
    if (info_.buffers.size() != 2) {
      return unsupported("a mini-block page with " + std::to_string(info_.buffers.size()) + " buffers");
    }
    const bool large = mb.has_large_chunk();
    LANCER_ASSIGN_OR_RETURN(
        auto chunks, parse_chunk_table(file_, info_.buffers[0], info_.buffers[1], large, info_.num_rows, where_));
    return std::unique_ptr<F32PageReader>(new MiniBlockF32Page(file_, std::move(chunks), bitpacked, large, where_));
  }
};

}  // namespace

Result<std::unique_ptr<F32PageReader>> F32PageReader::open(const LanceFile& file, size_t column, size_t page) {
  return Opener(file, column, page).open();
}

}  // namespace lancer::lance
