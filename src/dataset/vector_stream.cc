#include "dataset/vector_stream.h"

#include <algorithm>
#include <cstring>

#include "core/file_io.h"
#include "simd/distance.h"
#include "lance/deletion.h"
#include "lance/row_ids.h"

namespace lancer::dataset {

// Position inside one fragment: its data file, current page and row.
struct VectorStream::FragmentCursor {
  uint64_t fragment_id = 0;
  uint64_t physical_rows = 0;
  std::string where;  // "fragment 3 (data/x.lance) column vector"
  std::shared_ptr<const lance::LanceFile> file;  // null: the column is absent, every row is null
  size_t column = 0;
  size_t page = 0;
  std::unique_ptr<lance::VectorPageReader> reader;
  uint64_t row_in_page = 0;
  uint64_t row = 0;  // physical offset in the fragment
  std::vector<uint32_t> deleted;  // sorted
  size_t deleted_pos = 0;
  std::vector<uint64_t> stable_ids;  // empty unless stable row ids
};

void to_float32(const uint8_t* data, size_t count, lance::ElementType element, std::vector<float>* out) {
  out->resize(count);
  switch (element) {
    case lance::ElementType::kFloat32: std::memcpy(out->data(), data, count * 4); break;
    case lance::ElementType::kFloat16: {
      // The kernel reads whole uint16s; copy out of the (unaligned) byte buffer first.
      std::vector<uint16_t> halves(count);
      std::memcpy(halves.data(), data, count * 2);
      simd::f16_to_f32(halves.data(), count, out->data());
      break;
    }
    case lance::ElementType::kUInt8:
      for (size_t i = 0; i < count; ++i) (*out)[i] = static_cast<float>(data[i]);
      break;
  }
}

VectorStream::~VectorStream() = default;

Result<std::unique_ptr<VectorStream>> VectorStream::open(std::shared_ptr<const Dataset> dataset,
                                                         const std::string& column, StreamOptions options) {
  auto stream = std::unique_ptr<VectorStream>(new VectorStream());
  LANCER_ASSIGN_OR_RETURN(stream->column_, dataset->vector_column(column));
  const auto& frags = dataset->fragments();
  if (options.fragment_ids.empty()) {
    for (size_t i = 0; i < frags.size(); ++i) stream->fragment_order_.push_back(i);
  } else {
    for (uint64_t id : options.fragment_ids) {
      auto it = std::find_if(frags.begin(), frags.end(), [&](const FragmentInfo& f) { return f.id == id; });
      if (it == frags.end()) {
        return Status::NotFound("fragment " + std::to_string(id) + " is not in version " +
                                std::to_string(dataset->version()) + " of " + dataset->root());
      }
      stream->fragment_order_.push_back(static_cast<size_t>(it - frags.begin()));
    }
  }
  if (options.batch_bytes == 0) options.batch_bytes = 1;
  stream->options_ = std::move(options);
  stream->dataset_ = std::move(dataset);
  return stream;
}

Status VectorStream::open_fragment(size_t index) {
  const FragmentInfo& frag = dataset_->fragments()[index];
  const auto& proto = dataset_->fragment_proto(index);
  auto cur = std::make_unique<FragmentCursor>();
  cur->fragment_id = frag.id;
  cur->physical_rows = frag.physical_rows;
  cur->where = "fragment " + std::to_string(frag.id);
  const std::string root = dataset_->root();

  for (const auto& file : frag.files) {
    if (file.fields.size() != file.column_indices.size()) {
      return Status::Corruption(cur->where + " data file " + file.path + " lists " +
                                std::to_string(file.fields.size()) + " fields but " +
                                std::to_string(file.column_indices.size()) + " column indices");
    }
    for (size_t k = 0; k < file.fields.size(); ++k) {
      const int32_t id = file.fields[k];
      if (id < 0 && id != -2) {
        return Status::Corruption(cur->where + " data file " + file.path + " stores invalid field id " +
                                  std::to_string(id));
      }
      if (id != column_.field_id) continue;
      const int32_t col = file.column_indices[k];
      const std::string display = "data/" + file.path;
      if (col < 0) return Status::Corruption(display + ": vector field " + column_.path + " has no column");
      LANCER_ASSIGN_OR_RETURN(cur->file, lance::LanceFile::open(core::join_path(root, display), display));
      if (static_cast<size_t>(col) >= cur->file->num_columns()) {
        return Status::Corruption(display + ": manifest puts " + column_.path + " in column " + std::to_string(col) +
                                  " but the file has " + std::to_string(cur->file->num_columns()) + " columns");
      }
      cur->column = static_cast<size_t>(col);
      cur->where = display + " column " + std::to_string(col) + " (" + column_.path + ")";
      uint64_t rows = 0;
      for (const auto& p : cur->file->column(cur->column).pages) rows += p.num_rows;
      if (rows != frag.physical_rows) {
        return Status::Corruption(cur->where + ": pages hold " + std::to_string(rows) + " rows, the fragment has " +
                                  std::to_string(frag.physical_rows));
      }
    }
  }

  if (proto.has_deletion_file()) {
    const auto& del = proto.deletion_file();
    if (del.has_base_id()) return Status::NotSupported(cur->where + ": deletion file under another base path");
    const auto kind = del.file_type() == ::lance::table::DeletionFile::BITMAP ? lance::DeletionFileKind::kBitmap
                                                                              : lance::DeletionFileKind::kArrowArray;
    const std::string rel = lance::deletion_file_relative_path(frag.id, del.read_version(), del.id(), kind);
    LANCER_ASSIGN_OR_RETURN(cur->deleted,
                            lance::read_deletion_file(core::join_path(root, rel), kind, frag.physical_rows));
  }
  if (dataset_->has_stable_row_ids()) {
    if (proto.row_id_sequence_case() == ::lance::table::DataFragment::kInlineRowIds) {
      const std::string& seq = proto.inline_row_ids();
      LANCER_ASSIGN_OR_RETURN(cur->stable_ids,
                              lance::decode_row_id_sequence(reinterpret_cast<const uint8_t*>(seq.data()), seq.size(),
                                                            "row ids of fragment " + std::to_string(frag.id),
                                                            frag.physical_rows));
    } else if (proto.row_id_sequence_case() == ::lance::table::DataFragment::kExternalRowIds) {
      const auto& ext = proto.external_row_ids();
      LANCER_ASSIGN_OR_RETURN(auto file, core::RandomAccessFile::open(core::join_path(root, ext.path())));
      LANCER_ASSIGN_OR_RETURN(auto bytes, file->read_range(ext.offset(), ext.size()));
      LANCER_ASSIGN_OR_RETURN(cur->stable_ids, lance::decode_row_id_sequence(bytes.data(), bytes.size(),
                                                                             "row ids in " + ext.path(),
                                                                             frag.physical_rows));
    } else {
      return Status::Corruption("fragment " + std::to_string(frag.id) +
                                " has no row-id sequence although the dataset uses stable row ids");
    }
    if (cur->stable_ids.size() != frag.physical_rows) {
      return Status::Corruption("fragment " + std::to_string(frag.id) + " row-id sequence has " +
                                std::to_string(cur->stable_ids.size()) + " ids for " +
                                std::to_string(frag.physical_rows) + " rows");
    }
  }
  cursor_ = std::move(cur);
  return Status::OK();
}

Result<bool> VectorStream::next(VectorBatch* batch) {
  const size_t rb = column_.type.row_bytes();
  const size_t max_rows = std::max<size_t>(1, options_.batch_bytes / rb);
  batch->type = column_.type;
  for (;;) {
    if (!cursor_) {
      if (next_fragment_ >= fragment_order_.size()) return false;
      LANCER_RETURN_IF_ERROR(open_fragment(fragment_order_[next_fragment_++]));
    }
    FragmentCursor& cur = *cursor_;
    batch->fragment_id = cur.fragment_id;
    batch->num_rows = 0;
    batch->values.resize(max_rows * rb);
    batch->row_ids.resize(max_rows);

    if (!cur.file) {  // the fragment has no data for this column: all null
      stats_.deleted_rows += cur.deleted.size();
      stats_.null_rows += cur.physical_rows - cur.deleted.size();
      cursor_.reset();
      continue;
    }
    const auto& pages = cur.file->column(cur.column).pages;
    while (batch->num_rows < max_rows && cur.page < pages.size()) {
      if (!cur.reader) {
        auto opened = lance::VectorPageReader::open(*cur.file, cur.column, cur.page, column_.type);
        if (!opened.ok()) return opened.status().context(cur.file->name() + " (" + column_.path + ")");
        cur.reader = std::move(opened).value();
        cur.row_in_page = 0;
      }
      const uint64_t want = std::min<uint64_t>(max_rows - batch->num_rows, cur.reader->num_rows() - cur.row_in_page);
      uint8_t* dst = batch->values.data() + batch->num_rows * rb;
      valid_.resize(want);
      Status st = cur.reader->read(cur.row_in_page, want, dst, valid_.data());
      if (!st.ok()) {
        return st.context(cur.file->name() + " (" + column_.path + ") page " + std::to_string(cur.page));
      }
      // Keep valid, undeleted rows; compact in place.
      size_t kept = 0;
      for (uint64_t i = 0; i < want; ++i) {
        const uint64_t offset = cur.row + i;
        while (cur.deleted_pos < cur.deleted.size() && cur.deleted[cur.deleted_pos] < offset) ++cur.deleted_pos;
        if (cur.deleted_pos < cur.deleted.size() && cur.deleted[cur.deleted_pos] == offset) {
          ++stats_.deleted_rows;
          continue;
        }
        if (!valid_[i]) {
          ++stats_.null_rows;
          continue;
        }
        if (kept != i) std::memmove(dst + kept * rb, dst + i * rb, rb);
        batch->row_ids[batch->num_rows + kept] =
            cur.stable_ids.empty() ? (cur.fragment_id << 32) | offset : cur.stable_ids[offset];
        ++kept;
      }
      batch->num_rows += kept;
      cur.row += want;
      cur.row_in_page += want;
      if (cur.row_in_page == cur.reader->num_rows()) {
        cur.reader.reset();
        ++cur.page;
      }
    }
    const bool fragment_done = cur.page >= pages.size();
    if (fragment_done) cursor_.reset();
    if (batch->num_rows > 0) {
      batch->values.resize(batch->num_rows * rb);
      batch->row_ids.resize(batch->num_rows);
      stats_.rows += batch->num_rows;
      return true;
    }
  }
}

}  // namespace lancer::dataset
