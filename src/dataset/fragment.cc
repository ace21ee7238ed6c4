#include "dataset/fragment.h"

#include "lance/deletion.h"
#include "lance/row_ids.h"
#include "storage/file_io.h"

namespace lancer::dataset {

Fragment::Fragment(const Dataset& dataset, size_t index)
    : dataset_(dataset), info_(dataset.fragments()[index]), proto_(dataset.fragment_proto(index)) {}

Result<ColumnLocation> Fragment::locate(const VectorColumn& column) const {
  ColumnLocation loc;
  loc.where = "fragment " + std::to_string(info_.id);
  // Every file is checked; should two list the field, the last one holds it.
  for (const auto& file : info_.files) {
    if (file.fields.size() != file.column_indices.size()) {
      return Status::Corruption(loc.where + " data file " + file.path + " lists " + std::to_string(file.fields.size()) +
                                " fields but " + std::to_string(file.column_indices.size()) + " column indices");
    }
    for (size_t k = 0; k < file.fields.size(); ++k) {
      const int32_t id = file.fields[k];
      if (id < 0 && id != -2) {  // -2: a field the file does not store
        return Status::Corruption(loc.where + " data file " + file.path + " stores invalid field id " +
                                  std::to_string(id));
      }
      if (id != column.field_id) continue;
      const int32_t col = file.column_indices[k];
      const std::string display = "data/" + file.path;
      if (col < 0) return Status::Corruption(display + ": vector field " + column.path + " has no column");
      LANCER_ASSIGN_OR_RETURN(
          loc.file, lance::LanceFile::open(storage::join_path(dataset_.root(), display), display, file.size_bytes));
      if (static_cast<size_t>(col) >= loc.file->num_columns()) {
        return Status::Corruption(display + ": manifest puts " + column.path + " in column " + std::to_string(col) +
                                  " but the file has " + std::to_string(loc.file->num_columns()) + " columns");
      }
      loc.column = static_cast<size_t>(col);
      loc.where = display + " column " + std::to_string(col) + " (" + column.path + ")";
      uint64_t rows = 0;
      for (const auto& p : loc.file->column(loc.column).pages) rows += p.num_rows;
      if (rows != info_.physical_rows) {
        return Status::Corruption(loc.where + ": pages hold " + std::to_string(rows) + " rows, the fragment has " +
                                  std::to_string(info_.physical_rows));
      }
    }
  }
  return loc;
}

Result<std::vector<uint32_t>> Fragment::deletions() const {
  if (!proto_.has_deletion_file()) return std::vector<uint32_t>{};
  const auto& del = proto_.deletion_file();
  if (del.has_base_id()) {
    return Status::NotSupported("fragment " + std::to_string(info_.id) + ": deletion file under another base path");
  }
  const auto kind = del.file_type() == ::lance::table::DeletionFile::BITMAP ? lance::DeletionFileKind::kBitmap
                                                                            : lance::DeletionFileKind::kArrowArray;
  const std::string rel = lance::deletion_file_relative_path(info_.id, del.read_version(), del.id(), kind);
  return lance::read_deletion_file(storage::join_path(dataset_.root(), rel), kind, info_.physical_rows);
}

Result<std::vector<uint64_t>> Fragment::stable_row_ids() const {
  std::vector<uint64_t> ids;
  if (!dataset_.has_stable_row_ids()) return ids;
  const std::string frag = "fragment " + std::to_string(info_.id);
  if (proto_.row_id_sequence_case() == ::lance::table::DataFragment::kInlineRowIds) {
    const std::string& seq = proto_.inline_row_ids();
    LANCER_ASSIGN_OR_RETURN(ids, lance::decode_row_id_sequence(reinterpret_cast<const uint8_t*>(seq.data()), seq.size(),
                                                               "row ids of " + frag, info_.physical_rows));
  } else if (proto_.row_id_sequence_case() == ::lance::table::DataFragment::kExternalRowIds) {
    const auto& ext = proto_.external_row_ids();
    LANCER_ASSIGN_OR_RETURN(auto file,
                            storage::RandomAccessFile::open(storage::join_path(dataset_.root(), ext.path())));
    LANCER_ASSIGN_OR_RETURN(auto bytes, file->read_range(ext.offset(), ext.size()));
    LANCER_ASSIGN_OR_RETURN(ids, lance::decode_row_id_sequence(bytes.data(), bytes.size(), "row ids in " + ext.path(),
                                                               info_.physical_rows));
  } else {
    return Status::Corruption(frag + " has no row-id sequence although the dataset uses stable row ids");
  }
  if (ids.size() != info_.physical_rows) {
    return Status::Corruption(frag + " row-id sequence has " + std::to_string(ids.size()) + " ids for " +
                              std::to_string(info_.physical_rows) + " rows");
  }
  return ids;
}

}  // namespace lancer::dataset
