#include "dataset/take.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "dataset/fragment.h"

namespace lancer::dataset {

Status take_vectors(const Dataset& ds, const VectorColumn& column, std::span<const uint64_t> addresses,
                    std::vector<uint8_t>* values, std::vector<uint8_t>* valid) {
  if (ds.has_stable_row_ids()) {
    return Status::NotSupported(ds.root() + " uses stable row ids; taking rows by id is not implemented");
  }
  const size_t rb = column.type.row_bytes();
  values->assign(addresses.size() * rb, 0);
  valid->assign(addresses.size(), 0);
  // Group the requests by fragment so each data file is opened once.
  std::map<uint64_t, std::vector<size_t>> by_fragment;
  for (size_t i = 0; i < addresses.size(); ++i) by_fragment[addresses[i] >> 32].push_back(i);
  for (const auto& [frag_id, wanted] : by_fragment) {
    const std::optional<size_t> index = ds.fragment_index(frag_id);
    if (!index) {
      return Status::NotFound("row address " + std::to_string(addresses[wanted[0]]) + ": fragment " +
                              std::to_string(frag_id) + " is not in version " + std::to_string(ds.version()));
    }
    LANCER_ASSIGN_OR_RETURN(ColumnLocation loc, Fragment(ds, *index).locate(column));
    if (!loc.file) continue;  // the column is absent: every row null
    const lance::LanceFile* file = loc.file.get();
    const size_t col = loc.column;
    const auto& pages = file->column(col).pages;
    std::vector<uint64_t> page_start(pages.size() + 1, 0);
    for (size_t p = 0; p < pages.size(); ++p) page_start[p + 1] = page_start[p] + pages[p].num_rows;
    std::map<size_t, std::unique_ptr<lance::VectorPageReader>> readers;
    for (size_t i : wanted) {
      const uint64_t offset = addresses[i] & 0xffffffffu;
      if (offset >= page_start.back()) {
        return Status::NotFound("row address " + std::to_string(addresses[i]) + " is past the end of fragment " +
                                std::to_string(frag_id));
      }
      const size_t p =
          static_cast<size_t>(std::upper_bound(page_start.begin(), page_start.end(), offset) - page_start.begin()) - 1;
      auto& reader = readers[p];
      if (!reader) {
        auto opened = lance::VectorPageReader::open(*file, col, p, column.type);
        if (!opened.ok()) return opened.status().context(file->name() + " (" + column.path + ")");
        reader = std::move(opened).value();
      }
      LANCER_RETURN_IF_ERROR(reader->read(offset - page_start[p], 1, values->data() + i * rb, valid->data() + i));
    }
  }
  return Status::OK();
}

Status take_fragment_rows(const Dataset& ds, const VectorColumn& column, size_t index,
                          std::span<const uint32_t> offsets, uint64_t max_gap, uint8_t* values, uint8_t* valid,
                          core::UninitVector<uint8_t>* scratch) {
  if (offsets.empty()) return Status::OK();
  LANCER_ASSIGN_OR_RETURN(ColumnLocation loc, Fragment(ds, index).locate(column));
  return take_located_rows(loc, column, offsets, max_gap, values, valid, scratch);
}

Status take_located_rows(const ColumnLocation& loc, const VectorColumn& column, std::span<const uint32_t> offsets,
                         uint64_t max_gap, uint8_t* values, uint8_t* valid, core::UninitVector<uint8_t>* scratch) {
  const size_t rb = column.type.row_bytes();
  if (offsets.empty()) return Status::OK();
  if (!loc.file) {  // the column is absent: every row null
    std::memset(valid, 0, offsets.size());
    return Status::OK();
  }
  const auto& pages = loc.file->column(loc.column).pages;
  std::vector<uint64_t> page_start(pages.size() + 1, 0);
  for (size_t p = 0; p < pages.size(); ++p) page_start[p + 1] = page_start[p] + pages[p].num_rows;
  if (offsets.back() >= page_start.back()) {
    return Status::NotFound("row " + std::to_string(offsets.back()) + " is past the end of " + loc.where);
  }
  std::unique_ptr<lance::VectorPageReader> reader;
  size_t page = pages.size();
  for (size_t i = 0; i < offsets.size();) {
    const uint64_t first = offsets[i];
    if (page == pages.size() || first < page_start[page] || first >= page_start[page + 1]) {
      page =
          static_cast<size_t>(std::upper_bound(page_start.begin(), page_start.end(), first) - page_start.begin()) - 1;
      auto opened = lance::VectorPageReader::open(*loc.file, loc.column, page, column.type);
      if (!opened.ok()) return opened.status().context(loc.where);
      reader = std::move(opened).value();
    }
    // A run: the rows that follow within max_gap of each other, on this page.
    size_t j = i + 1;
    while (j < offsets.size() && offsets[j] < page_start[page + 1] && offsets[j] - offsets[j - 1] <= max_gap + 1) ++j;
    const uint64_t count = offsets[j - 1] - first + 1;
    const uint64_t start = first - page_start[page];
    if (count == j - i) {  // no gaps: straight into place
      LANCER_RETURN_IF_ERROR(reader->read(start, count, values + i * rb, valid + i));
    } else {
      scratch->resize(count * (rb + 1));  // the run's rows, then its validity
      uint8_t* span_values = scratch->data();
      uint8_t* span_valid = span_values + count * rb;
      LANCER_RETURN_IF_ERROR(reader->read(start, count, span_values, span_valid));
      for (size_t k = i; k < j; ++k) {
        const uint64_t at = offsets[k] - first;
        std::memcpy(values + k * rb, span_values + at * rb, rb);
        valid[k] = span_valid[at];
      }
    }
    i = j;
  }
  return Status::OK();
}

}  // namespace lancer::dataset
