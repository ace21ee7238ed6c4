#include "dataset/vector_stream.h"

#include <algorithm>
#include <cstring>

#include "dataset/fragment.h"
#include "storage/file_io.h"

namespace lancer::dataset {

// Position inside one fragment: its data file, current page and row.
struct VectorStream::FragmentCursor {
  uint64_t fragment_id = 0;
  uint64_t physical_rows = 0;
  std::shared_ptr<const lance::LanceFile> file;  // null: the column is absent, every row is null
  size_t column = 0;
  size_t page = 0;
  std::unique_ptr<lance::VectorPageReader> reader;
  uint64_t row_in_page = 0;
  uint64_t row = 0;               // physical offset in the fragment
  std::vector<uint32_t> deleted;  // sorted
  size_t deleted_pos = 0;
  std::vector<uint64_t> stable_ids;  // empty unless stable row ids
};

VectorStream::~VectorStream() = default;

void prefetch_fragment(const Dataset& dataset, const VectorColumn& column, size_t index) {
  if (index >= dataset.fragments().size() || !storage::is_object_store(dataset.root())) return;
  constexpr uint64_t kTail = 64 << 10, kHead = 16 << 20;  // the footer and metadata, the first pages
  for (const DataFileInfo& file : dataset.fragments()[index].files) {
    if (file.size_bytes == 0 ||
        std::find(file.fields.begin(), file.fields.end(), column.field_id) == file.fields.end()) {
      continue;
    }
    const std::pair<uint64_t, uint64_t> ranges[] = {{file.size_bytes - std::min(file.size_bytes, kTail), kTail},
                                                    {0, kHead}};
    storage::prefetch(storage::join_path(dataset.root(), "data/" + file.path), file.size_bytes, ranges);
  }
}

Result<std::unique_ptr<VectorStream>> VectorStream::open(std::shared_ptr<const Dataset> dataset,
                                                         const std::string& column, StreamOptions options) {
  auto stream = std::unique_ptr<VectorStream>(new VectorStream());
  LANCER_ASSIGN_OR_RETURN(stream->column_, dataset->vector_column(column));
  const auto& frags = dataset->fragments();
  if (options.fragment_ids.empty()) {
    for (size_t i = 0; i < frags.size(); ++i) stream->fragment_order_.push_back(i);
  } else {
    for (uint64_t id : options.fragment_ids) {
      const std::optional<size_t> index = dataset->fragment_index(id);
      if (!index) {
        return Status::NotFound("fragment " + std::to_string(id) + " is not in version " +
                                std::to_string(dataset->version()) + " of " + dataset->root());
      }
      stream->fragment_order_.push_back(*index);
    }
  }
  if (options.batch_bytes == 0) options.batch_bytes = 1;
  stream->options_ = std::move(options);
  stream->dataset_ = std::move(dataset);
  if (!stream->fragment_order_.empty())
    prefetch_fragment(*stream->dataset_, stream->column_, stream->fragment_order_[0]);
  return stream;
}

Status VectorStream::open_fragment(size_t index) {
  const Fragment frag(*dataset_, index);
  auto cur = std::make_unique<FragmentCursor>();
  cur->fragment_id = frag.id();
  cur->physical_rows = frag.physical_rows();
  LANCER_ASSIGN_OR_RETURN(ColumnLocation loc, frag.locate(column_));
  cur->file = std::move(loc.file);
  cur->column = loc.column;
  LANCER_ASSIGN_OR_RETURN(cur->deleted, frag.deletions());
  LANCER_ASSIGN_OR_RETURN(cur->stable_ids, frag.stable_row_ids());
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
      if (next_fragment_ < fragment_order_.size()) {
        prefetch_fragment(*dataset_, column_, fragment_order_[next_fragment_]);
      }
    }
    FragmentCursor& cur = *cursor_;
    batch->fragment_id = cur.fragment_id;
    batch->num_rows = 0;
    batch->values.resize(max_rows * rb);
    batch->row_ids.resize(max_rows);
    batch->offsets.resize(max_rows);

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
        batch->row_ids[batch->num_rows + kept] = row_id(cur.fragment_id, cur.stable_ids, offset);
        batch->offsets[batch->num_rows + kept] = static_cast<uint32_t>(offset);
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
      batch->offsets.resize(batch->num_rows);
      stats_.rows += batch->num_rows;
      return true;
    }
  }
}

}  // namespace lancer::dataset
