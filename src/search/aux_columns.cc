#include "search/aux_columns.h"

#include <algorithm>
#include <string>

namespace lancer::search {

Status AuxColumn::init(std::shared_ptr<const lance::LanceFile> file, size_t column) {
  if (column >= file->num_columns()) {
    return Status::Corruption(file->name() + ": column " + std::to_string(column) + " does not exist");
  }
  file_ = std::move(file);
  column_ = column;
  const auto& pages = file_->column(column).pages;
  page_first_.assign(1, 0);
  for (const auto& p : pages) page_first_.push_back(page_first_.back() + p.num_rows);
  u64_pages_.resize(pages.size());
  fsl_pages_.resize(pages.size());
  return Status::OK();
}

Result<AuxColumn> AuxColumn::open_u64(std::shared_ptr<const lance::LanceFile> file, size_t column) {
  AuxColumn c;
  LANCER_RETURN_IF_ERROR(c.init(std::move(file), column));
  return c;
}

Result<AuxColumn> AuxColumn::open_fsl(std::shared_ptr<const lance::LanceFile> file, size_t column,
                                      lance::VectorType type) {
  AuxColumn c;
  LANCER_RETURN_IF_ERROR(c.init(std::move(file), column));
  c.is_u64_ = false;
  c.type_ = type;
  c.row_bytes_ = type.row_bytes();
  return c;
}

Result<AuxColumn> AuxColumn::open_f32(std::shared_ptr<const lance::LanceFile> file, size_t column) {
  AuxColumn c;
  LANCER_RETURN_IF_ERROR(c.init(std::move(file), column));
  c.is_u64_ = false;
  c.is_f32_ = true;
  c.row_bytes_ = 4;
  c.f32_pages_.resize(c.u64_pages_.size());
  return c;
}

Status AuxColumn::read_page(size_t page, uint64_t from, uint64_t count, uint8_t* out) {
  if (is_f32_) {
    auto& r = f32_pages_[page];
    if (!r) {
      LANCER_ASSIGN_OR_RETURN(r, lance::F32PageReader::open(*file_, column_, page));
    }
    return r->read(from, count, reinterpret_cast<uint32_t*>(out));
  }
  if (is_u64_) {
    auto& r = u64_pages_[page];
    if (!r) {
      LANCER_ASSIGN_OR_RETURN(r, lance::U64PageReader::open(*file_, column_, page));
    }
    return r->read(from, count, reinterpret_cast<uint64_t*>(out));
  }
  auto& r = fsl_pages_[page];
  if (!r) {
    LANCER_ASSIGN_OR_RETURN(r, lance::VectorPageReader::open(*file_, column_, page, type_));
  }
  valid_.resize(count);
  LANCER_RETURN_IF_ERROR(r->read(from, count, out, valid_.data()));
  if (std::find(valid_.begin(), valid_.end(), uint8_t{0}) != valid_.end()) {
    return Status::Corruption("column " + std::to_string(column_) + " page " + std::to_string(page) +
                              " has a null row; index storage rows are never null");
  }
  return Status::OK();
}

Status AuxColumn::read(uint64_t start, uint64_t count, uint8_t* out) {
  if (start > num_rows() || count > num_rows() - start) {
    return Status::Corruption(file_->name() + ": rows [" + std::to_string(start) + ", " +
                              std::to_string(start + count) + ") are past the end of column " +
                              std::to_string(column_) + " (" + std::to_string(num_rows()) + " rows)");
  }
  const uint64_t end = start + count;
  // The page holding `start`: the last one whose first row is <= start.
  size_t page =
      static_cast<size_t>(std::upper_bound(page_first_.begin(), page_first_.end(), start) - page_first_.begin()) - 1;
  for (uint64_t row = start; row < end; ++page) {
    const uint64_t page_end = page_first_[page + 1];
    if (page_end <= row) continue;  // an empty page
    const uint64_t n = std::min(end, page_end) - row;
    Status st = read_page(page, row - page_first_[page], n, out + (row - start) * row_bytes_);
    if (!st.ok()) return st.context(file_->name());
    row += n;
  }
  return Status::OK();
}

}  // namespace lancer::search
