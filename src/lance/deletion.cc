#include "lance/deletion.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/bytes.h"
#include "lance/roaring.h"
#include "storage/file_io.h"

namespace lancer::lance {
namespace {

using core::load_le;

// ---------------------------------------------------------------------------
// A minimal flatbuffer reader. Every offset is checked against the buffer it
// lives in before it is followed, so a truncated or bit-flipped file yields a
// Corruption status, never an out-of-bounds read. Only what the Arrow IPC
// footer and record-batch message need: scalars, sub-tables, vectors of
// structs or tables, and strings.
// ---------------------------------------------------------------------------

struct FbVector {
  size_t pos = 0;    // first element, relative to the buffer
  uint32_t len = 0;  // element count
};

class FbTable {
 public:
  // The root table: a u32 offset at the start of `buf`.
  static Result<FbTable> root(std::string_view buf, const char* name) {
    if (buf.size() < 4) return bad(name, "flatbuffer of " + std::to_string(buf.size()) + " bytes is too short");
    return at(buf, load_le<uint32_t>(ptr(buf, 0)), name);
  }

  static Result<FbTable> at(std::string_view buf, uint64_t pos, const char* name) {
    if (pos > buf.size() || buf.size() - pos < 4)
      return bad(name, "table offset " + std::to_string(pos) + " out of bounds");
    const int64_t vtable = static_cast<int64_t>(pos) - load_le<int32_t>(ptr(buf, pos));
    if (vtable < 0 || static_cast<uint64_t>(vtable) > buf.size() - 4) {
      return bad(name, "vtable offset " + std::to_string(vtable) + " out of bounds");
    }
    const uint16_t vt_size = load_le<uint16_t>(ptr(buf, vtable));
    const uint16_t tbl_size = load_le<uint16_t>(ptr(buf, vtable + 2));
    if (vt_size < 4 || vt_size % 2 != 0 || vt_size > buf.size() - static_cast<uint64_t>(vtable)) {
      return bad(name, "vtable size " + std::to_string(vt_size) + " invalid");
    }
    if (tbl_size < 4 || tbl_size > buf.size() - pos)
      return bad(name, "table size " + std::to_string(tbl_size) + " invalid");
    return FbTable(buf, pos, static_cast<size_t>(vtable), vt_size, tbl_size, name);
  }

  const char* name() const { return name_; }

  template <typename T>
  Result<T> scalar(int field, T default_value) const {
    LANCER_ASSIGN_OR_RETURN(size_t off, field_offset(field, sizeof(T)));
    if (off == 0) return default_value;
    return load_le<T>(ptr(buf_, pos_ + off));
  }

  // Absent field → nullopt.
  Result<std::optional<FbTable>> table(int field, const char* name) const {
    LANCER_ASSIGN_OR_RETURN(std::optional<uint64_t> target, follow(field));
    if (!target) return std::optional<FbTable>();
    LANCER_ASSIGN_OR_RETURN(FbTable t, at(buf_, *target, name));
    return std::optional<FbTable>(t);
  }

  // Absent field → empty vector. The whole element range is bounds-checked.
  Result<FbVector> vector(int field, size_t elem_size) const {
    LANCER_ASSIGN_OR_RETURN(std::optional<uint64_t> target, follow(field));
    if (!target) return FbVector{};
    if (*target > buf_.size() || buf_.size() - *target < 4) return bad(name_, "vector header out of bounds");
    const uint32_t len = load_le<uint32_t>(ptr(buf_, *target));
    const size_t first = *target + 4;
    if (len > (buf_.size() - first) / elem_size) {
      return bad(name_, "vector of " + std::to_string(len) + " elements runs past the buffer");
    }
    return FbVector{first, len};
  }

  Result<std::string_view> string(int field) const {
    LANCER_ASSIGN_OR_RETURN(FbVector v, vector(field, 1));
    return std::string_view(reinterpret_cast<const char*>(ptr(buf_, v.pos)), v.len);
  }

  // Element `i` of a vector of tables.
  Result<FbTable> table_in(const FbVector& v, uint32_t i, const char* name) const {
    const size_t slot = v.pos + size_t{i} * 4;
    return at(buf_, slot + uint64_t{load_le<uint32_t>(ptr(buf_, slot))}, name);
  }

  const uint8_t* bytes(size_t pos) const { return ptr(buf_, pos); }

 private:
  FbTable(std::string_view buf, size_t pos, size_t vtable, uint16_t vt_size, uint16_t tbl_size, const char* name)
      : buf_(buf), pos_(pos), vtable_(vtable), vt_size_(vt_size), tbl_size_(tbl_size), name_(name) {}

  static const uint8_t* ptr(std::string_view buf, uint64_t pos) {
    return reinterpret_cast<const uint8_t*>(buf.data()) + pos;
  }
  static Status bad(const char* name, const std::string& msg) {
    return Status::Corruption(std::string(name) + ": " + msg);
  }

  // Offset of the field inside the table (0 = absent), checked to lie within
  // the table's inline part.
  Result<size_t> field_offset(int field, size_t width) const {
    const size_t slot = 4 + 2 * static_cast<size_t>(field);
    if (slot + 2 > vt_size_) return size_t{0};
    const uint16_t off = load_le<uint16_t>(ptr(buf_, vtable_ + slot));
    if (off != 0 && (off < 4 || off + width > tbl_size_)) {
      return bad(name_,
                 "field " + std::to_string(field) + " at offset " + std::to_string(off) + " lies outside the table");
    }
    return size_t{off};
  }

  // Target of an offset (uoffset) field, relative to the buffer.
  Result<std::optional<uint64_t>> follow(int field) const {
    LANCER_ASSIGN_OR_RETURN(size_t off, field_offset(field, 4));
    if (off == 0) return std::optional<uint64_t>();
    const size_t at_pos = pos_ + off;
    const uint64_t target = at_pos + uint64_t{load_le<uint32_t>(ptr(buf_, at_pos))};
    if (target >= buf_.size()) return bad(name_, "field " + std::to_string(field) + " points past the buffer");
    return std::optional<uint64_t>(target);
  }

  std::string_view buf_;
  size_t pos_;
  size_t vtable_;
  uint16_t vt_size_;
  uint16_t tbl_size_;
  const char* name_;
};

// ---------------------------------------------------------------------------
// Arrow IPC file (Message.fbs, Schema.fbs, File.fbs): field numbers below are
// the declaration order of each flatbuffer table.
// ---------------------------------------------------------------------------

constexpr std::string_view kArrowMagic = "ARROW1";
constexpr size_t kArrowHeaderBytes = 8;    // magic + 2 bytes of padding
constexpr size_t kArrowTrailerBytes = 10;  // i32 footer length + magic
constexpr size_t kBlockBytes = 24;         // struct Block {i64 offset; i32 metaDataLength; pad; i64 bodyLength}
constexpr size_t kFieldNodeBytes = 16;     // struct FieldNode {i64 length; i64 null_count}
constexpr size_t kBufferBytes = 16;        // struct Buffer {i64 offset; i64 length}
constexpr int16_t kMetadataV4 = 3;
constexpr int16_t kMetadataV5 = 4;
constexpr uint8_t kHeaderRecordBatch = 3;  // MessageHeader union
constexpr uint8_t kTypeInt = 2;            // Type union
constexpr int8_t kCodecLz4Frame = 0;       // CompressionType; also the default when the field is absent
constexpr int8_t kCodecZstd = 1;
// Slack allowed between a ZSTD buffer's declared size and the bytes the rows
// need (writers may keep 8- or 64-byte padding); bounds the allocation.
constexpr uint64_t kMaxBufferSlack = 64;

Status corrupt(const std::string& msg) {
  return Status::Corruption(msg);
}

// The footer's schema must be exactly Lance's: one non-nullable UInt32 `row_id`.
Status check_schema(const FbTable& footer) {
  LANCER_ASSIGN_OR_RETURN(auto schema, footer.table(1, "schema"));
  if (!schema) return corrupt("footer has no schema");
  LANCER_ASSIGN_OR_RETURN(int16_t endianness, schema->scalar<int16_t>(0, 0));
  if (endianness != 0) return Status::NotSupported("big-endian Arrow IPC file");
  LANCER_ASSIGN_OR_RETURN(FbVector fields, schema->vector(1, 4));
  if (fields.len != 1) return corrupt("schema has " + std::to_string(fields.len) + " fields, expected 1 (row_id)");
  LANCER_ASSIGN_OR_RETURN(FbTable field, schema->table_in(fields, 0, "schema field"));
  LANCER_ASSIGN_OR_RETURN(std::string_view name, field.string(0));
  if (name != "row_id") return corrupt("column is named '" + std::string(name) + "', expected 'row_id'");
  LANCER_ASSIGN_OR_RETURN(uint8_t nullable, field.scalar<uint8_t>(1, 0));
  if (nullable != 0) return corrupt("column row_id is nullable; Lance writes it non-nullable");
  LANCER_ASSIGN_OR_RETURN(uint8_t type_type, field.scalar<uint8_t>(2, 0));
  LANCER_ASSIGN_OR_RETURN(auto type, field.table(3, "row_id type"));
  if (type_type != kTypeInt || !type)
    return corrupt("column row_id is not an integer (type tag " + std::to_string(type_type) + ")");
  LANCER_ASSIGN_OR_RETURN(int32_t bit_width, type->scalar<int32_t>(0, 0));
  LANCER_ASSIGN_OR_RETURN(uint8_t is_signed, type->scalar<uint8_t>(1, 0));
  if (bit_width != 32 || is_signed != 0) {
    return corrupt("column row_id is " + std::string(is_signed ? "Int" : "UInt") + std::to_string(bit_width) +
                   ", expected UInt32");
  }
  LANCER_ASSIGN_OR_RETURN(auto dictionary, field.table(4, "dictionary"));
  if (dictionary) return corrupt("column row_id is dictionary-encoded");
  return Status::OK();
}

struct Block {
  uint64_t offset;
  uint64_t metadata_length;
  uint64_t body_length;
};

// Decodes one body buffer, undoing IPC body compression: each compressed
// buffer is an i64 uncompressed length (-1 = stored raw) and the payload; an
// empty buffer stays empty. `needed` is the byte count the rows require.
Result<std::vector<uint8_t>> read_body_buffer(const uint8_t* p, uint64_t length, bool zstd, uint64_t needed) {
  if (!zstd || length == 0) {
    if (length < needed) {
      return corrupt("values buffer holds " + std::to_string(length) + " bytes, rows need " + std::to_string(needed));
    }
    return std::vector<uint8_t>(p, p + needed);
  }
  if (length < 8) return corrupt("compressed buffer of " + std::to_string(length) + " bytes has no length prefix");
  const int64_t declared = load_le<int64_t>(p);
  const uint8_t* payload = p + 8;
  const uint64_t payload_len = length - 8;
  if (declared == -1) return read_body_buffer(payload, payload_len, false, needed);
  if (declared < 0 || static_cast<uint64_t>(declared) < needed ||
      static_cast<uint64_t>(declared) > needed + kMaxBufferSlack) {
    return corrupt("compressed values buffer declares " + std::to_string(declared) + " bytes, rows need " +
                   std::to_string(needed));
  }
  // Frames usually record their size: a first frame larger than the whole
  // buffer is corrupt, caught before allocating.
  const unsigned long long framed = ZSTD_getFrameContentSize(payload, payload_len);
  if (framed == ZSTD_CONTENTSIZE_ERROR) return corrupt("values buffer does not start with a ZSTD frame");
  if (framed != ZSTD_CONTENTSIZE_UNKNOWN && framed > static_cast<uint64_t>(declared)) {
    return corrupt("ZSTD frame holds " + std::to_string(framed) + " bytes, the buffer declares " +
                   std::to_string(declared));
  }
  std::vector<uint8_t> out(static_cast<size_t>(declared));
  const size_t got = ZSTD_decompress(out.data(), out.size(), payload, payload_len);
  if (ZSTD_isError(got)) return corrupt(std::string("ZSTD decompression failed: ") + ZSTD_getErrorName(got));
  if (got != out.size()) {
    return corrupt("ZSTD buffer decompressed to " + std::to_string(got) + " bytes, declared " +
                   std::to_string(declared));
  }
  out.resize(needed);
  return out;
}

Result<std::vector<uint32_t>> parse_arrow_deletions(std::string_view file, uint64_t physical_rows) {
  const size_t size = file.size();
  if (size < kArrowHeaderBytes + kArrowTrailerBytes) {
    return corrupt("file of " + std::to_string(size) + " bytes is too short for Arrow IPC");
  }
  if (file.substr(0, kArrowMagic.size()) != kArrowMagic || file.substr(size - kArrowMagic.size()) != kArrowMagic) {
    return corrupt("missing ARROW1 magic (not an Arrow IPC file)");
  }
  const auto* base = reinterpret_cast<const uint8_t*>(file.data());
  const int32_t footer_len = load_le<int32_t>(base + size - kArrowTrailerBytes);
  if (footer_len <= 0 || static_cast<uint64_t>(footer_len) > size - kArrowHeaderBytes - kArrowTrailerBytes) {
    return corrupt("footer length " + std::to_string(footer_len) + " does not fit a file of " + std::to_string(size) +
                   " bytes");
  }
  const size_t footer_start = size - kArrowTrailerBytes - static_cast<size_t>(footer_len);
  LANCER_ASSIGN_OR_RETURN(FbTable footer, FbTable::root(file.substr(footer_start, footer_len), "footer"));
  LANCER_ASSIGN_OR_RETURN(int16_t version, footer.scalar<int16_t>(0, 0));
  if (version != kMetadataV4 && version != kMetadataV5) {
    return Status::NotSupported("Arrow IPC metadata version " + std::to_string(version) + " (expected V4 or V5)");
  }
  LANCER_RETURN_IF_ERROR(check_schema(footer));
  LANCER_ASSIGN_OR_RETURN(FbVector dictionaries, footer.vector(2, kBlockBytes));
  if (dictionaries.len != 0) return corrupt("file has dictionary batches");
  LANCER_ASSIGN_OR_RETURN(FbVector batches, footer.vector(3, kBlockBytes));
  if (batches.len != 1) return corrupt("file has " + std::to_string(batches.len) + " record batches, expected 1");

  const uint8_t* b = footer.bytes(batches.pos);
  const int64_t block_offset = load_le<int64_t>(b);
  const int32_t block_meta = load_le<int32_t>(b + 8);
  const int64_t block_body = load_le<int64_t>(b + 16);
  const auto block_error = [&] {
    return corrupt("record batch block (offset " + std::to_string(block_offset) + ", metadata " +
                   std::to_string(block_meta) + ", body " + std::to_string(block_body) +
                   " bytes) does not fit before the footer at " + std::to_string(footer_start));
  };
  if (block_offset < static_cast<int64_t>(kArrowHeaderBytes) || block_meta < 8 || block_body < 0) return block_error();
  // The message and its body must lie between the header and the footer.
  const Block block{static_cast<uint64_t>(block_offset), static_cast<uint64_t>(block_meta),
                    static_cast<uint64_t>(block_body)};
  if (block.offset > footer_start || block.metadata_length > footer_start - block.offset ||
      block.body_length > footer_start - block.offset - block.metadata_length) {
    return block_error();
  }

  // Encapsulated message: 0xFFFFFFFF continuation, i32 length, flatbuffer
  // (pre-0.15 writers omit the continuation marker).
  uint64_t fb_start = block.offset + 4;
  int32_t fb_len = load_le<int32_t>(base + block.offset);
  if (fb_len == -1) {
    fb_len = load_le<int32_t>(base + block.offset + 4);
    fb_start += 4;
  }
  if (fb_len <= 0 || static_cast<uint64_t>(fb_len) > block.offset + block.metadata_length - fb_start) {
    return corrupt("message length " + std::to_string(fb_len) + " does not fit its block of " +
                   std::to_string(block.metadata_length) + " bytes");
  }
  LANCER_ASSIGN_OR_RETURN(FbTable message, FbTable::root(file.substr(fb_start, fb_len), "message"));
  LANCER_ASSIGN_OR_RETURN(uint8_t header_type, message.scalar<uint8_t>(1, 0));
  if (header_type != kHeaderRecordBatch) {
    return corrupt("block points at message type " + std::to_string(header_type) + ", not a record batch");
  }
  LANCER_ASSIGN_OR_RETURN(int64_t message_body, message.scalar<int64_t>(3, 0));
  if (message_body != block_body) {
    return corrupt("message body length " + std::to_string(message_body) + " differs from the footer's " +
                   std::to_string(block_body));
  }
  LANCER_ASSIGN_OR_RETURN(auto batch, message.table(2, "record batch"));
  if (!batch) return corrupt("message has no record batch header");

  LANCER_ASSIGN_OR_RETURN(int64_t num_rows, batch->scalar<int64_t>(0, 0));
  LANCER_ASSIGN_OR_RETURN(FbVector nodes, batch->vector(1, kFieldNodeBytes));
  LANCER_ASSIGN_OR_RETURN(FbVector buffers, batch->vector(2, kBufferBytes));
  if (nodes.len != 1 || buffers.len != 2) {
    return corrupt("record batch has " + std::to_string(nodes.len) + " field nodes and " + std::to_string(buffers.len) +
                   " buffers, expected 1 and 2");
  }
  const int64_t node_len = load_le<int64_t>(batch->bytes(nodes.pos));
  const int64_t null_count = load_le<int64_t>(batch->bytes(nodes.pos + 8));
  if (node_len != num_rows || num_rows < 0) {
    return corrupt("record batch claims " + std::to_string(num_rows) + " rows, its column " + std::to_string(node_len));
  }
  // Offsets are distinct u32 values below physical_rows, so more rows than
  // either bound is corrupt (and this bounds the allocations below).
  if (static_cast<uint64_t>(num_rows) > physical_rows || num_rows > (int64_t{1} << 32)) {
    return corrupt(std::to_string(num_rows) + " deleted rows in a fragment of " + std::to_string(physical_rows) +
                   " physical rows");
  }
  if (null_count != 0) return corrupt("row_id column has " + std::to_string(null_count) + " nulls");

  bool zstd = false;
  LANCER_ASSIGN_OR_RETURN(auto compression, batch->table(3, "body compression"));
  if (compression) {
    LANCER_ASSIGN_OR_RETURN(int8_t codec, compression->scalar<int8_t>(0, kCodecLz4Frame));
    LANCER_ASSIGN_OR_RETURN(int8_t method, compression->scalar<int8_t>(1, 0));
    if (codec == kCodecLz4Frame) return Status::NotSupported("LZ4_FRAME body compression is not supported");
    if (codec != kCodecZstd) return corrupt("unknown body compression codec " + std::to_string(codec));
    if (method != 0) return Status::NotSupported("body compression method " + std::to_string(method));
    zstd = true;
  }

  // Buffer 0 is the validity bitmap: with no nulls it is ignored (arrow-rs
  // still writes one, all ones). Buffer 1 holds the values.
  for (uint32_t i = 0; i < 2; ++i) {
    const int64_t off = load_le<int64_t>(batch->bytes(buffers.pos + kBufferBytes * i));
    const int64_t len = load_le<int64_t>(batch->bytes(buffers.pos + kBufferBytes * i + 8));
    if (off < 0 || len < 0 || static_cast<uint64_t>(off) > block.body_length ||
        static_cast<uint64_t>(len) > block.body_length - off) {
      return corrupt("buffer " + std::to_string(i) + " [" + std::to_string(off) + ", +" + std::to_string(len) +
                     ") lies outside the " + std::to_string(block.body_length) + "-byte body");
    }
  }
  const int64_t values_off = load_le<int64_t>(batch->bytes(buffers.pos + kBufferBytes));
  const int64_t values_len = load_le<int64_t>(batch->bytes(buffers.pos + kBufferBytes + 8));
  const uint8_t* body = base + block.offset + block.metadata_length;
  const uint64_t needed = static_cast<uint64_t>(num_rows) * 4;
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, read_body_buffer(body + values_off, values_len, zstd, needed));

  std::vector<uint32_t> offsets(static_cast<size_t>(num_rows));
  if (!offsets.empty()) std::memcpy(offsets.data(), raw.data(), needed);  // little-endian host (core/bytes.h)
  return offsets;
}

// Lance keeps deletions in a set, so order is arbitrary; normalise and bound.
Result<std::vector<uint32_t>> sorted_in_range(std::vector<uint32_t> offsets, uint64_t physical_rows) {
  std::sort(offsets.begin(), offsets.end());
  offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());
  if (!offsets.empty() && offsets.back() >= physical_rows) {
    return corrupt("deleted offset " + std::to_string(offsets.back()) + " is not below the fragment's " +
                   std::to_string(physical_rows) + " physical rows");
  }
  return offsets;
}

}  // namespace

std::string deletion_file_relative_path(uint64_t fragment_id, uint64_t read_version, uint64_t id,
                                        DeletionFileKind kind) {
  return "_deletions/" + std::to_string(fragment_id) + "-" + std::to_string(read_version) + "-" + std::to_string(id) +
         (kind == DeletionFileKind::kBitmap ? ".bin" : ".arrow");
}

Result<std::vector<uint32_t>> decode_deletion_file(const uint8_t* data, size_t size, DeletionFileKind kind,
                                                   uint64_t physical_rows, const std::string& what) {
  if (kind == DeletionFileKind::kBitmap) {
    // roaring_decode's errors already name `what`.
    LANCER_ASSIGN_OR_RETURN(std::vector<uint32_t> offsets, roaring_decode(data, size, what));
    Result<std::vector<uint32_t>> checked = sorted_in_range(std::move(offsets), physical_rows);
    if (!checked.ok()) return checked.status().context(what);
    return checked;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Result<std::vector<uint32_t>> offsets = parse_arrow_deletions(bytes, physical_rows);
  if (offsets.ok()) offsets = sorted_in_range(std::move(offsets).value(), physical_rows);
  if (!offsets.ok()) return offsets.status().context(what + ": arrow deletion file");
  return offsets;
}

Result<std::vector<uint32_t>> read_deletion_file(const std::string& path, DeletionFileKind kind,
                                                 uint64_t physical_rows) {
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> data, storage::read_whole_file(path));
  return decode_deletion_file(data.data(), data.size(), kind, physical_rows, path);
}

}  // namespace lancer::lance
