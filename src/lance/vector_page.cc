#include "lance/vector_page.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/bytes.h"
#include "encodings_v2_0.pb.h"
#include "encodings_v2_1.pb.h"
#include "lance/bitpacking.h"
#include "lance/page_layout.h"

namespace lancer::lance {

namespace v20 = ::lance::encodings;
namespace v21 = ::lance::encodings21;

size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return 4;
    case ElementType::kFloat16: return 2;
    case ElementType::kUInt8: return 1;
  }
  return 0;
}

const char* element_type_name(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return "float";
    case ElementType::kFloat16: return "halffloat";
    case ElementType::kUInt8: return "uint8";
  }
  return "?";
}

Result<VectorType> parse_vector_logical_type(const std::string& logical_type) {
  const std::string prefix = "fixed_size_list:";
  auto not_vector = [&] {
    return Status::NotSupported("type \"" + logical_type +
                                "\" is not a vector column (need fixed_size_list of float, halffloat or uint8)");
  };
  if (logical_type.rfind(prefix, 0) != 0) return not_vector();
  const std::string rest = logical_type.substr(prefix.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return not_vector();
  const std::string elem = rest.substr(0, colon);
  const std::string dim_text = rest.substr(colon + 1);
  VectorType type;
  if (elem == "float") {
    type.element = ElementType::kFloat32;
  } else if (elem == "halffloat") {
    type.element = ElementType::kFloat16;
  } else if (elem == "uint8") {
    type.element = ElementType::kUInt8;
  } else {
    return not_vector();
  }
  if (dim_text.empty() || dim_text.size() > 9 ||
      !std::all_of(dim_text.begin(), dim_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return not_vector();
  }
  type.dim = static_cast<uint32_t>(std::stoul(dim_text));
  if (type.dim == 0) return not_vector();
  return type;
}

namespace {

std::string bits_text(uint64_t bits) { return std::to_string(bits) + "-bit"; }

// ---------------------------------------------------------------------------
// Values stored back to back (2.0 flat, 2.1+ full-zip without levels), with an
// optional 2.0 validity bitmap, or a page that is entirely null.
class ContiguousPage final : public VectorPageReader {
 public:
  enum class Validity { kAllValid, kAllNull, kBitmap };
  ContiguousPage(const LanceFile& file, uint64_t rows, VectorType type, uint64_t values_offset, Validity validity,
                 uint64_t bitmap_offset)
      : VectorPageReader(file, rows, type),
        values_{values_offset, type.row_bytes()},
        validity_(validity),
        bitmap_offset_(bitmap_offset) {}

  Status read(uint64_t start, uint64_t count, uint8_t* values, uint8_t* valid) override {
    if (validity_ == Validity::kAllNull) {
      std::memset(valid, 0, count);
      return Status::OK();
    }
    LANCER_RETURN_IF_ERROR(values_.read(file_, start, count, values));
    if (validity_ == Validity::kAllValid) {
      std::memset(valid, 1, count);
      return Status::OK();
    }
    const uint64_t first_byte = start / 8, last_byte = (start + count + 7) / 8;
    bitmap_.resize(last_byte - first_byte);
    LANCER_RETURN_IF_ERROR(file_.file().read_at(bitmap_offset_ + first_byte, bitmap_.size(), bitmap_.data()));
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t bit = start + i - first_byte * 8;
      valid[i] = (bitmap_[bit / 8] >> (bit % 8)) & 1;
    }
    return Status::OK();
  }

 private:
  ContiguousValues values_;
  Validity validity_;
  uint64_t bitmap_offset_;
  std::vector<uint8_t> bitmap_;
};

// ---------------------------------------------------------------------------
// 2.1+ full-zip rows with a control word (definition level) before each row.
class FullZipLevelsPage final : public VectorPageReader {
 public:
  FullZipLevelsPage(const LanceFile& file, uint64_t rows, VectorType type, uint64_t offset, size_t control_bytes)
      : VectorPageReader(file, rows, type), offset_(offset), control_bytes_(control_bytes) {}

  Status read(uint64_t start, uint64_t count, uint8_t* values, uint8_t* valid) override {
    const size_t rb = type_.row_bytes();
    const size_t stride = rb + control_bytes_;
    scratch_.resize(count * stride);
    LANCER_RETURN_IF_ERROR(file_.file().read_at(offset_ + start * stride, scratch_.size(), scratch_.data()));
    for (uint64_t i = 0; i < count; ++i) {
      const uint8_t* row = scratch_.data() + i * stride;
      uint32_t level = 0;
      std::memcpy(&level, row, control_bytes_);
      valid[i] = level == 0;
      std::memcpy(values + i * rb, row + control_bytes_, rb);
    }
    return Status::OK();
  }

 private:
  uint64_t offset_;
  size_t control_bytes_;
  std::vector<uint8_t> scratch_;
};

// ---------------------------------------------------------------------------
// 2.1+ mini-block: chunks of up to 32768 rows, each with its own header,
// optional definition levels and the raw values.
class MiniBlockPage final : public VectorPageReader {
 public:
  enum class Levels { kNone, kFlat16, kBitpacked16, kOutOfLine16, kRle16 };

  MiniBlockPage(const LanceFile& file, uint64_t rows, VectorType type, std::vector<MiniBlockChunk> chunks,
                Levels levels, size_t level_param, bool large_chunks, std::string where)
      : VectorPageReader(file, rows, type),
        chunks_(file, std::move(chunks), large_chunks, levels != Levels::kNone, std::move(where)),
        levels_(levels),
        level_param_(level_param) {}

  Status read(uint64_t start, uint64_t count, uint8_t* values, uint8_t* valid) override {
    const size_t rb = type_.row_bytes();
    return chunks_.read(
        start, count, [&](const MiniBlockChunk& c, const ChunkView& chunk) { return decode(c, chunk); },
        [&](uint64_t from, uint64_t n, uint64_t at) {
          std::memcpy(values + at * rb, chunk_values_ + from * rb, n * rb);
          if (levels_ == Levels::kNone) {
            std::memset(valid + at, 1, n);
          } else {
            for (uint64_t i = 0; i < n; ++i) valid[at + i] = chunk_levels_[from + i] == 0;
          }
        });
  }

 private:
  // Checks the chunk's value bytes and decodes its definition levels.
  Status decode(const MiniBlockChunk& c, const ChunkView& chunk) {
    const std::string& where = chunk.where;
    if (chunk.values_size != c.rows * type_.row_bytes()) {
      return Status::Corruption(where + " value buffer is " + std::to_string(chunk.values_size) + " bytes, expected " +
                                std::to_string(c.rows * type_.row_bytes()) + " for " + std::to_string(c.rows) +
                                " vectors");
    }
    chunk_values_ = chunk.values;
    const uint8_t* levels = chunk.levels;
    const uint64_t def_size = chunk.levels_size;
    if (levels_ == Levels::kFlat16) {
      if (def_size != 2 * c.rows) {
        return Status::Corruption(where + " has " + std::to_string(def_size) + " bytes of u16 levels for " +
                                  std::to_string(c.rows) + " rows");
      }
      chunk_levels_.resize(c.rows);
      std::memcpy(chunk_levels_.data(), levels, def_size);
    } else if (levels_ == Levels::kBitpacked16) {
      chunk_levels_.resize(c.rows);
      auto used = unpack_inline_bitpacked<uint16_t>(levels, def_size, c.rows, chunk_levels_.data());
      if (!used.ok()) return used.status().context(where + " definition levels");
    } else if (levels_ == Levels::kOutOfLine16) {
      chunk_levels_.resize(c.rows);
      LANCER_RETURN_IF_ERROR(
          unpack_out_of_line_bitpacked<uint16_t>(levels, def_size, c.rows, level_param_, chunk_levels_.data())
              .context(where + " definition levels"));
    } else if (levels_ == Levels::kRle16) {
      LANCER_RETURN_IF_ERROR(decode_rle_levels(levels, def_size, c.rows).context(where + " definition levels"));
    }
    return Status::OK();
  }

  // [u64 values bytes][u16 level per run][run length per run, level_param_ wide]
  Status decode_rle_levels(const uint8_t* p, uint64_t size, uint64_t rows) {
    if (size < 8) return Status::Corruption("run-length block shorter than its header");
    const uint64_t values_bytes = core::load_le<uint64_t>(p);
    if (values_bytes % 2 != 0 || values_bytes > size - 8) {
      return Status::Corruption("run-length block claims " + std::to_string(values_bytes) + " bytes of values");
    }
    const uint64_t runs = values_bytes / 2;
    if (runs * level_param_ > size - 8 - values_bytes) {
      return Status::Corruption("run-length block is missing run lengths");
    }
    chunk_levels_.resize(rows);
    const uint8_t* lengths = p + 8 + values_bytes;
    uint64_t filled = 0;
    for (uint64_t r = 0; r < runs; ++r) {
      uint64_t len = 0;
      std::memcpy(&len, lengths + r * level_param_, level_param_);
      if (len > rows - filled) return Status::Corruption("run lengths exceed the chunk's " + std::to_string(rows) + " rows");
      std::fill_n(chunk_levels_.begin() + static_cast<std::ptrdiff_t>(filled), len, core::load_le<uint16_t>(p + 8 + 2 * r));
      filled += len;
    }
    if (filled != rows) {
      return Status::Corruption("run lengths cover " + std::to_string(filled) + " of " + std::to_string(rows) + " rows");
    }
    return Status::OK();
  }

  MiniBlockChunks chunks_;
  Levels levels_;
  size_t level_param_;  // RLE: bytes per run length; out-of-line bitpacking: packed width
  const uint8_t* chunk_values_ = nullptr;  // into chunks_' buffer
  std::vector<uint16_t> chunk_levels_;
};

// ---------------------------------------------------------------------------
// Validation of encodings.

class PageOpener : PageOpenerBase {
 public:
  PageOpener(const LanceFile& file, size_t column, size_t page, VectorType type)
      : PageOpenerBase(file, column, page), type_(type) {}

  Result<std::unique_ptr<VectorPageReader>> open() {
    LANCER_RETURN_IF_ERROR(check_encoding_url());
    return is_v20() ? open_v20() : open_v21();
  }

 private:
  Status unsupported(const std::string& what) const { return Status::NotSupported(where_ + ": " + what); }
  uint64_t elem_bits() const { return element_size(type_.element) * 8; }

  // An all-null page carries no value bytes (levels, at most, in 2.1+).
  Status check_no_data(const char* kind) const {
    uint64_t bytes = 0;
    for (const auto& b : info_.buffers) bytes += b.size;
    if (file_.version().minor == 0 ? bytes != 0 : bytes >= info_.num_rows * type_.row_bytes() && bytes > 0) {
      return corrupt(std::string(kind) + " page carries " + std::to_string(bytes) + " bytes of buffers");
    }
    return Status::OK();
  }

  Status check_buffer(size_t index, uint64_t expected, const std::string& role) const {
    return PageOpenerBase::check_buffer(index, expected, role,
                                        std::to_string(info_.num_rows) + " rows of " +
                                            element_type_name(type_.element) + "x" + std::to_string(type_.dim));
  }

  // ---- 2.0
  Result<uint32_t> v20_flat_values(const v20::ArrayEncoding& enc) const {
    // fixed_size_list{dimension, items = [nullable{no_nulls{]flat[}}]}
    if (enc.array_encoding_case() != v20::ArrayEncoding::kFixedSizeList) {
      return unsupported("vector values are not encoded as a plain fixed_size_list (found " +
                         std::string(v20_name(enc)) + ")");
    }
    const auto& fsl = enc.fixed_size_list();
    if (fsl.dimension() != type_.dim) {
      return corrupt("fixed_size_list dimension " + std::to_string(fsl.dimension()) + " differs from the schema's " +
                     std::to_string(type_.dim));
    }
    if (fsl.has_validity()) return unsupported("null items inside vectors (has_validity) are not supported");
    const v20::ArrayEncoding* items = &fsl.items();
    if (items->array_encoding_case() == v20::ArrayEncoding::kNullable) {
      if (items->nullable().nullability_case() != v20::Nullable::kNoNulls) {
        return unsupported("null items inside vectors are not supported");
      }
      items = &items->nullable().no_nulls().values();
    }
    if (items->array_encoding_case() != v20::ArrayEncoding::kFlat) {
      return unsupported("vector items use the \"" + std::string(v20_name(*items)) +
                         "\" encoding; only uncompressed flat is supported");
    }
    const auto& flat = items->flat();
    if (flat.has_compression() && !flat.compression().scheme().empty()) {
      return unsupported("compressed vector page (scheme \"" + flat.compression().scheme() + "\")");
    }
    if (flat.bits_per_value() != elem_bits()) {
      return corrupt("flat items are " + bits_text(flat.bits_per_value()) + ", the schema says " +
                     bits_text(elem_bits()));
    }
    if (flat.buffer().buffer_type() != v20::Buffer::page) {
      return unsupported("vector values in a column or file buffer");
    }
    return flat.buffer().buffer_index();
  }

  static const char* v20_name(const v20::ArrayEncoding& e) {
    switch (e.array_encoding_case()) {
      case v20::ArrayEncoding::kFlat: return "flat";
      case v20::ArrayEncoding::kNullable: return "nullable";
      case v20::ArrayEncoding::kFixedSizeList: return "fixed_size_list";
      case v20::ArrayEncoding::kList: return "list";
      case v20::ArrayEncoding::kStruct: return "struct";
      case v20::ArrayEncoding::kBinary: return "binary";
      case v20::ArrayEncoding::kDictionary: return "dictionary";
      case v20::ArrayEncoding::kFsst: return "fsst";
      case v20::ArrayEncoding::kPackedStruct: return "packed_struct";
      case v20::ArrayEncoding::kBitpacked: return "bitpacked";
      case v20::ArrayEncoding::kFixedSizeBinary: return "fixed_size_binary";
      case v20::ArrayEncoding::kBitpackedForNonNeg: return "bitpacked_for_non_neg";
      case v20::ArrayEncoding::kConstant: return "constant";
      case v20::ArrayEncoding::kInlineBitpacking: return "inline_bitpacking";
      case v20::ArrayEncoding::kOutOfLineBitpacking: return "out_of_line_bitpacking";
      case v20::ArrayEncoding::kVariable: return "variable";
      case v20::ArrayEncoding::kPackedStructFixedWidthMiniBlock: return "packed_struct_fixed_width_mini_block";
      case v20::ArrayEncoding::kBlock: return "block";
      case v20::ArrayEncoding::kRle: return "rle";
      case v20::ArrayEncoding::kGeneralMiniBlock: return "general_mini_block";
      case v20::ArrayEncoding::kByteStreamSplit: return "byte_stream_split";
      case v20::ArrayEncoding::ARRAY_ENCODING_NOT_SET: return "none";
    }
    return "unknown";
  }

  Result<std::unique_ptr<VectorPageReader>> open_v20() {
    LANCER_ASSIGN_OR_RETURN(const v20::ArrayEncoding enc, parse_array_encoding());
    const uint64_t rows = info_.num_rows;
    const uint64_t values_bytes = rows * type_.row_bytes();
    using V = ContiguousPage::Validity;
    const v20::ArrayEncoding* values = &enc;
    V validity = V::kAllValid;
    uint64_t bitmap_offset = 0;
    if (enc.array_encoding_case() == v20::ArrayEncoding::kNullable) {
      const auto& nullable = enc.nullable();
      switch (nullable.nullability_case()) {
        case v20::Nullable::kNoNulls:
          values = &nullable.no_nulls().values();
          break;
        case v20::Nullable::kAllNulls:
          LANCER_RETURN_IF_ERROR(check_no_data("all-null"));
          return std::unique_ptr<VectorPageReader>(new ContiguousPage(file_, rows, type_, 0, V::kAllNull, 0));
        case v20::Nullable::kSomeNulls: {
          const auto& v = nullable.some_nulls().validity();
          if (v.array_encoding_case() != v20::ArrayEncoding::kFlat || v.flat().bits_per_value() != 1 ||
              v.flat().buffer().buffer_type() != v20::Buffer::page ||
              (v.flat().has_compression() && !v.flat().compression().scheme().empty())) {
            return unsupported("validity of null vectors is not an uncompressed 1-bit flat bitmap");
          }
          const uint32_t vb = v.flat().buffer().buffer_index();
          LANCER_RETURN_IF_ERROR(check_buffer(vb, (rows + 7) / 8, "validity"));
          bitmap_offset = info_.buffers[vb].offset;
          validity = V::kBitmap;
          values = &nullable.some_nulls().values();
          break;
        }
        default:
          return corrupt("nullable encoding without a nullability");
      }
    }
    LANCER_ASSIGN_OR_RETURN(uint32_t buffer, v20_flat_values(*values));
    LANCER_RETURN_IF_ERROR(check_buffer(buffer, values_bytes, "values"));
    return std::unique_ptr<VectorPageReader>(
        new ContiguousPage(file_, rows, type_, info_.buffers[buffer].offset, validity, bitmap_offset));
  }

  // ---- 2.1 / 2.2
  static const char* compressive_name(const v21::CompressiveEncoding& e) {
    switch (e.compression_case()) {
      case v21::CompressiveEncoding::kFlat: return "flat";
      case v21::CompressiveEncoding::kVariable: return "variable";
      case v21::CompressiveEncoding::kConstant: return "constant";
      case v21::CompressiveEncoding::kOutOfLineBitpacking: return "out_of_line_bitpacking";
      case v21::CompressiveEncoding::kInlineBitpacking: return "inline_bitpacking";
      case v21::CompressiveEncoding::kFsst: return "fsst";
      case v21::CompressiveEncoding::kDictionary: return "dictionary";
      case v21::CompressiveEncoding::kRle: return "rle";
      case v21::CompressiveEncoding::kByteStreamSplit: return "byte_stream_split";
      case v21::CompressiveEncoding::kGeneral: return "general (zstd/lz4)";
      case v21::CompressiveEncoding::kFixedSizeList: return "fixed_size_list";
      case v21::CompressiveEncoding::kPackedStruct: return "packed_struct";
      case v21::CompressiveEncoding::kVariablePackedStruct: return "variable_packed_struct";
      case v21::CompressiveEncoding::COMPRESSION_NOT_SET: return "none";
    }
    return "unknown";
  }

  Status check_v21_values(const v21::CompressiveEncoding& enc) const {
    if (enc.compression_case() != v21::CompressiveEncoding::kFixedSizeList) {
      return unsupported("vector values use the \"" + std::string(compressive_name(enc)) +
                         "\" encoding; only an uncompressed fixed_size_list of flat values is supported");
    }
    const auto& fsl = enc.fixed_size_list();
    if (fsl.items_per_value() != type_.dim) {
      return corrupt("fixed_size_list of " + std::to_string(fsl.items_per_value()) +
                     " items differs from the schema's dimension " + std::to_string(type_.dim));
    }
    if (fsl.has_validity()) return unsupported("null items inside vectors (has_validity) are not supported");
    if (fsl.values().compression_case() != v21::CompressiveEncoding::kFlat) {
      return unsupported("vector items use the \"" + std::string(compressive_name(fsl.values())) +
                         "\" encoding (compressed vector page); only flat is supported");
    }
    const auto& flat = fsl.values().flat();
    if (flat.has_data()) return unsupported("compressed vector page (flat values with buffer compression)");
    if (flat.bits_per_value() != elem_bits()) {
      return corrupt("flat items are " + bits_text(flat.bits_per_value()) + ", the schema says " +
                     bits_text(elem_bits()));
    }
    return Status::OK();
  }

  // Accepts item layers only (a vector, possibly inside structs); returns
  // whether any layer can be null.
  Result<bool> check_layers(const google::protobuf::RepeatedField<int>& layers) const {
    if (layers.empty()) return corrupt("page has no rep/def layers");
    bool nullable = false;
    for (int layer : layers) {
      if (layer == v21::REPDEF_NULLABLE_ITEM) {
        nullable = true;
      } else if (layer != v21::REPDEF_ALL_VALID_ITEM) {
        return unsupported("rep/def layer " + std::to_string(layer) +
                           " (a list level) above a vector column is not supported");
      }
    }
    return nullable;
  }

  Result<std::unique_ptr<VectorPageReader>> open_v21() {
    LANCER_ASSIGN_OR_RETURN(const v21::PageLayout layout, parse_page_layout());
    const uint64_t rows = info_.num_rows;
    switch (layout.layout_case()) {
      case v21::PageLayout::kFullZipLayout: return open_full_zip(layout.full_zip_layout(), rows);
      case v21::PageLayout::kMiniBlockLayout: return open_mini_block(layout.mini_block_layout(), rows);
      case v21::PageLayout::kConstantLayout: {
        const auto& c = layout.constant_layout();
        if (c.has_inline_value()) return unsupported("constant vector page with an inline value");
        LANCER_RETURN_IF_ERROR(check_layers(c.layers()).status());
        LANCER_RETURN_IF_ERROR(check_no_data("all-null constant"));
        return std::unique_ptr<VectorPageReader>(
            new ContiguousPage(file_, rows, type_, 0, ContiguousPage::Validity::kAllNull, 0));
      }
      case v21::PageLayout::kBlobLayout: return unsupported("blob layout for a vector column");
      case v21::PageLayout::kSparseLayout: return unsupported("sparse layout (file version 2.3)");
      default: return corrupt("page layout is empty or unknown");
    }
  }

  Result<std::unique_ptr<VectorPageReader>> open_full_zip(const v21::FullZipLayout& fz, uint64_t rows) {
    if (fz.bits_rep() != 0) return unsupported("repetition levels above a vector column");
    if (fz.details_case() != v21::FullZipLayout::kBitsPerValue) {
      return corrupt("full-zip vector page with variable-width values");
    }
    if (fz.bits_per_value() != type_.dim * elem_bits()) {
      return corrupt("full-zip page has " + bits_text(fz.bits_per_value()) + " values, expected " +
                     bits_text(type_.dim * elem_bits()));
    }
    if (fz.num_items() != rows || fz.num_visible_items() != rows) {
      return corrupt("full-zip page has " + std::to_string(fz.num_items()) + " items for " + std::to_string(rows) +
                     " rows");
    }
    LANCER_RETURN_IF_ERROR(check_v21_values(fz.value_compression()));
    LANCER_ASSIGN_OR_RETURN(bool nullable, check_layers(fz.layers()));
    if (fz.bits_def() > 16) return corrupt("full-zip definition width " + std::to_string(fz.bits_def()));
    if (fz.bits_def() == 0 && nullable) return corrupt("nullable layer without definition bits");
    if (info_.buffers.size() != 1) {
      return unsupported("full-zip vector page with " + std::to_string(info_.buffers.size()) + " buffers");
    }
    const size_t control = fz.bits_def() == 0 ? 0 : (fz.bits_def() <= 8 ? 1 : 2);
    LANCER_RETURN_IF_ERROR(check_buffer(0, rows * (type_.row_bytes() + control), "full-zip"));
    if (control == 0) {
      return std::unique_ptr<VectorPageReader>(new ContiguousPage(
          file_, rows, type_, info_.buffers[0].offset, ContiguousPage::Validity::kAllValid, 0));
    }
    return std::unique_ptr<VectorPageReader>(
        new FullZipLevelsPage(file_, rows, type_, info_.buffers[0].offset, control));
  }

  Result<std::unique_ptr<VectorPageReader>> open_mini_block(const v21::MiniBlockLayout& mb, uint64_t rows) {
    if (mb.has_rep_compression()) return unsupported("repetition levels above a vector column");
    if (mb.has_dictionary() || mb.num_dictionary_items() != 0) return unsupported("dictionary-encoded vector page");
    if (mb.repetition_index_depth() != 0) return unsupported("mini-block page with a repetition index");
    if (mb.num_buffers() != 1) {
      return unsupported("mini-block page with " + std::to_string(mb.num_buffers()) + " value buffers");
    }
    LANCER_RETURN_IF_ERROR(check_mini_block_items(mb));
    LANCER_RETURN_IF_ERROR(check_v21_values(mb.value_compression()));
    LANCER_ASSIGN_OR_RETURN(bool nullable, check_layers(mb.layers()));
    using L = MiniBlockPage::Levels;
    L levels = L::kNone;
    size_t run_length_bytes = 0;  // or the packed width, for out-of-line bitpacking
    if (mb.has_def_compression()) {
      const auto& d = mb.def_compression();
      if (is_flat(d, 16)) {
        levels = L::kFlat16;
      } else if (is_inline_bitpacked(d, 16)) {
        levels = L::kBitpacked16;
      } else if (auto width = out_of_line_width(d, 16)) {
        levels = L::kOutOfLine16;
        run_length_bytes = *width;
      } else if (d.compression_case() == v21::CompressiveEncoding::kRle && is_flat(d.rle().values(), 16) &&
                 (is_flat(d.rle().run_lengths(), 8) || is_flat(d.rle().run_lengths(), 16) ||
                  is_flat(d.rle().run_lengths(), 32))) {
        levels = L::kRle16;
        run_length_bytes = d.rle().run_lengths().flat().bits_per_value() / 8;
      } else {
        return unsupported("definition levels encoded as \"" + std::string(compressive_name(d)) + "\"");
      }
    } else if (nullable) {
      return corrupt("nullable layer without definition levels");
    }
    if (info_.buffers.size() != 2) {
      return unsupported("mini-block vector page with " + std::to_string(info_.buffers.size()) + " buffers");
    }
    const bool large = mb.has_large_chunk();
    LANCER_ASSIGN_OR_RETURN(auto chunks,
                            parse_chunk_table(file_, info_.buffers[0], info_.buffers[1], large, rows, where_));
    return std::unique_ptr<VectorPageReader>(
        new MiniBlockPage(file_, rows, type_, std::move(chunks), levels, run_length_bytes, large, where_));
  }

  VectorType type_;
};

}  // namespace

Result<std::unique_ptr<VectorPageReader>> VectorPageReader::open(const LanceFile& file, size_t column, size_t page,
                                                                 VectorType type) {
  return PageOpener(file, column, page, type).open();
}

}  // namespace lancer::lance
