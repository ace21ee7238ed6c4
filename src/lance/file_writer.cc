#include "lance/file_writer.h"

#include <cstring>

#include "encodings_v2_0.pb.h"
#include "file2.pb.h"
#include "google/protobuf/any.pb.h"
#include "lance/deterministic.h"
#include "storage/file_io.h"

namespace lancer::lance {

namespace {

constexpr uint64_t kAlignment = 64;
constexpr uint8_t kPadByte = 0x48;

std::string pack_any(const std::string& type_url, const google::protobuf::MessageLite& message) {
  google::protobuf::Any any;
  any.set_type_url(type_url);
  any.set_value(lance::serialize_deterministic(message));
  return lance::serialize_deterministic(any);
}

// nullable{no_nulls{values{ [fixed_size_list{dim, items=nullable{no_nulls{values{] flat{bits} [}}}}] }}}
std::string flat_page_encoding(uint32_t bits, uint32_t dim) {
  ::lance::encodings::ArrayEncoding flat;
  flat.mutable_flat()->set_bits_per_value(bits);
  flat.mutable_flat()->mutable_buffer();  // Lance writes the empty Buffer message
  ::lance::encodings::ArrayEncoding values = flat;
  if (dim > 0) {
    ::lance::encodings::ArrayEncoding items;
    *items.mutable_nullable()->mutable_no_nulls()->mutable_values() = flat;
    values.Clear();
    values.mutable_fixed_size_list()->set_dimension(dim);
    *values.mutable_fixed_size_list()->mutable_items() = items;
  }
  ::lance::encodings::ArrayEncoding page;
  *page.mutable_nullable()->mutable_no_nulls()->mutable_values() = values;
  return pack_any("/lance.encodings.ArrayEncoding", page);
}

// list{offsets: nullable{no_nulls{values: flat{64}}}, null_offset_adjustment, num_items}
std::string list_page_encoding(uint64_t num_items) {
  ::lance::encodings::ArrayEncoding offsets;
  offsets.mutable_flat()->set_bits_per_value(64);
  offsets.mutable_flat()->mutable_buffer();
  ::lance::encodings::ArrayEncoding page;
  auto* list = page.mutable_list();
  *list->mutable_offsets()->mutable_nullable()->mutable_no_nulls()->mutable_values() = offsets;
  list->set_null_offset_adjustment(num_items + 1);  // a null list would add this to its end offset
  list->set_num_items(num_items);
  return pack_any("/lance.encodings.ArrayEncoding", page);
}

}  // namespace

std::vector<::lance::file::Field> make_list_fields(int32_t id, const std::string& name,
                                                   const std::string& item_logical_type) {
  std::vector<::lance::file::Field> fields{make_field(id, name, "list", true),
                                           make_field(id + 1, "item", item_logical_type, true)};
  fields[1].set_parent_id(id);
  return fields;
}

::lance::file::Field make_field(int32_t id, const std::string& name, const std::string& logical_type, bool nullable) {
  ::lance::file::Field f;
  f.set_name(name);
  f.set_id(id);
  f.set_parent_id(-1);
  f.set_logical_type(logical_type);
  f.set_nullable(nullable);
  f.set_encoding(1);
  return f;
}

Result<std::unique_ptr<LanceFileWriter>> LanceFileWriter::create(const std::string& path, size_t num_columns) {
  LANCER_ASSIGN_OR_RETURN(auto out, storage::OutputFile::create(path));
  return std::unique_ptr<LanceFileWriter>(new LanceFileWriter(path, std::move(out), num_columns));
}

LanceFileWriter::LanceFileWriter(std::string path, std::unique_ptr<storage::OutputFile> file, size_t num_columns)
    : path_(std::move(path)), file_(std::move(file)), columns_(num_columns) {}

LanceFileWriter::~LanceFileWriter() = default;

void LanceFileWriter::forget_written() {
  file_->forget_written();
}

Status LanceFileWriter::write_raw(const void* data, size_t size) {
  if (file_ == nullptr) return Status::Internal(path_ + ": write after finish");
  LANCER_RETURN_IF_ERROR(file_->write(data, size));
  position_ += size;
  return Status::OK();
}

Result<uint64_t> LanceFileWriter::write_padded(const void* data, size_t size) {
  const uint64_t at = position_;
  LANCER_RETURN_IF_ERROR(write_raw(data, size));
  const size_t pad = static_cast<size_t>((kAlignment - position_ % kAlignment) % kAlignment);
  static const std::vector<uint8_t> kPad(kAlignment, kPadByte);
  LANCER_RETURN_IF_ERROR(write_raw(kPad.data(), pad));
  return at;
}

Result<uint32_t> LanceFileWriter::add_global_buffer(const void* data, size_t size) {
  LANCER_ASSIGN_OR_RETURN(uint64_t at, write_padded(data, size));
  global_buffers_.emplace_back(at, size);
  return static_cast<uint32_t>(global_buffers_.size());
}

Status LanceFileWriter::append_flat_page(size_t column, uint64_t rows, uint32_t bits, uint32_t dim, const void* data,
                                         size_t size) {
  const uint64_t expected = rows * (dim == 0 ? 1 : dim) * bits / 8;
  if (column >= columns_.size() || size != expected) {
    return Status::Internal(path_ + ": page of " + std::to_string(size) + " bytes for column " +
                            std::to_string(column) + ", expected " + std::to_string(expected));
  }
  LANCER_ASSIGN_OR_RETURN(uint64_t at, write_padded(data, size));
  columns_[column].push_back({at, size, rows, flat_page_encoding(bits, dim)});
  return Status::OK();
}

Status LanceFileWriter::append_list_page(size_t column, uint64_t rows, const uint64_t* end_offsets) {
  if (column >= columns_.size() || rows == 0) {
    return Status::Internal(path_ + ": list page of " + std::to_string(rows) + " rows for column " +
                            std::to_string(column));
  }
  const uint64_t num_items = end_offsets[rows - 1];
  LANCER_ASSIGN_OR_RETURN(uint64_t at, write_padded(end_offsets, rows * 8));
  columns_[column].push_back({at, rows * 8, rows, list_page_encoding(num_items)});
  return Status::OK();
}

Result<uint64_t> LanceFileWriter::finish(const ::lance::file::Schema& schema, uint64_t num_rows) {
  ::lance::file::FileDescriptor descriptor;
  *descriptor.mutable_schema() = schema;
  if (num_rows != 0) descriptor.set_length(num_rows);
  const std::string schema_bytes = lance::serialize_deterministic(descriptor);
  LANCER_ASSIGN_OR_RETURN(uint64_t schema_at, write_padded(schema_bytes.data(), schema_bytes.size()));

  ::lance::encodings::ColumnEncoding column_encoding;
  column_encoding.mutable_values();
  const std::string column_any = pack_any("/lance.encodings.ColumnEncoding", column_encoding);
  const uint64_t column_meta_start = position_;
  std::vector<std::pair<uint64_t, uint64_t>> cmo;
  for (const auto& pages : columns_) {
    ::lance::file::v2::ColumnMetadata cm;
    cm.mutable_encoding()->mutable_direct()->set_encoding(column_any);
    uint64_t first_row = 0;
    for (const Page& p : pages) {
      auto* page = cm.add_pages();
      page->add_buffer_offsets(p.offset);
      page->add_buffer_sizes(p.size);
      page->set_length(p.rows);
      page->mutable_encoding()->mutable_direct()->set_encoding(p.encoding);
      page->set_priority(first_row);
      first_row += p.rows;
    }
    const std::string bytes = lance::serialize_deterministic(cm);
    cmo.emplace_back(position_, bytes.size());
    LANCER_RETURN_IF_ERROR(write_raw(bytes.data(), bytes.size()));
  }
  auto write_table = [&](const std::vector<std::pair<uint64_t, uint64_t>>& table) -> Result<uint64_t> {
    const uint64_t at = position_;
    for (const auto& [offset, size] : table) {
      LANCER_RETURN_IF_ERROR(write_raw(&offset, 8));
      LANCER_RETURN_IF_ERROR(write_raw(&size, 8));
    }
    return at;
  };
  LANCER_ASSIGN_OR_RETURN(uint64_t cmo_at, write_table(cmo));
  std::vector<std::pair<uint64_t, uint64_t>> gbo{{schema_at, schema_bytes.size()}};
  gbo.insert(gbo.end(), global_buffers_.begin(), global_buffers_.end());
  LANCER_ASSIGN_OR_RETURN(uint64_t gbo_at, write_table(gbo));
  uint8_t footer[40];
  const uint32_t num_gb = static_cast<uint32_t>(gbo.size()), num_cols = static_cast<uint32_t>(columns_.size());
  const uint16_t major = 0, minor = 3;  // file format 2.0 as Lance writes it
  std::memcpy(footer + 0, &column_meta_start, 8);
  std::memcpy(footer + 8, &cmo_at, 8);
  std::memcpy(footer + 16, &gbo_at, 8);
  std::memcpy(footer + 24, &num_gb, 4);
  std::memcpy(footer + 28, &num_cols, 4);
  std::memcpy(footer + 32, &major, 2);
  std::memcpy(footer + 34, &minor, 2);
  std::memcpy(footer + 36, "LANC", 4);
  LANCER_RETURN_IF_ERROR(write_raw(footer, sizeof(footer)));
  LANCER_RETURN_IF_ERROR(file_->finish());
  file_.reset();
  return position_;
}

}  // namespace lancer::lance
