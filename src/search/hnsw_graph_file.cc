#include "search/hnsw_graph_file.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "encodings_v2_0.pb.h"

namespace lancer::search {

namespace {

namespace v20 = ::lance::encodings;

// index.idx's physical columns: __vector_id, __neighbors (list), its items, _distance, its items.
constexpr size_t kIdColumn = 0, kListColumn = 1, kItemColumn = 2;

// A no-null flat page of `bits`-bit values (the list's offsets, or plain values).
bool is_plain_flat(const v20::ArrayEncoding& e, uint64_t bits) {
  const v20::ArrayEncoding* v = &e;
  if (v->has_nullable()) {
    if (!v->nullable().has_no_nulls()) return false;
    v = &v->nullable().no_nulls().values();
  }
  return v->has_flat() && v->flat().bits_per_value() == bits && !v->flat().has_compression() &&
         v->flat().buffer().buffer_type() == v20::Buffer::page;
}

// Reads 2.0 pages of one column by row range; pages are located by their row counts.
class Column20 {
 public:
  Column20(const lance::LanceFile& f, size_t column) : f_(f), column_(column) {}

  Status check_version() const {
    if (f_.version().major != 2 || f_.version().minor != 0) {
      return Status::NotSupported(f_.name() + ": HNSW graphs in file format " + f_.version().to_string() +
                                  " (2.1+ list pages: repetition levels in mini-block/full-zip layouts) are not read "
                                  "yet; only 2.0 list pages are");
    }
    return Status::OK();
  }
  Result<v20::ArrayEncoding> encoding(size_t page) const {
    const lance::PageInfo& p = f_.column(column_).pages[page];
    v20::ArrayEncoding e;
    if (p.encoding_type_url != "/lance.encodings.ArrayEncoding" || !e.ParseFromString(p.encoding) ||
        p.buffers.empty()) {
      return corrupt(page, "not a 2.0 page");
    }
    return e;
  }
  // Fixed-width values of rows [start, start + count) into `out` (count * bytes).
  Status read_values(uint64_t start, uint64_t count, uint32_t bytes, void* out) const {
    uint64_t page_first = 0;
    auto* dst = static_cast<uint8_t*>(out);
    const auto& pages = f_.column(column_).pages;
    for (size_t i = 0; i < pages.size() && count > 0; ++i) {
      const uint64_t rows = pages[i].num_rows;
      if (start < page_first + rows) {
        LANCER_ASSIGN_OR_RETURN(auto e, encoding(i));
        if (!is_plain_flat(e, bytes * 8)) return corrupt(i, "not plain " + std::to_string(bytes * 8) + "-bit values");
        if (pages[i].buffers[0].size < rows * bytes) return corrupt(i, "values buffer too small");
        const uint64_t from = start - page_first, n = std::min(count, rows - from);
        LANCER_RETURN_IF_ERROR(f_.file().read_at(pages[i].buffers[0].offset + from * bytes, n * bytes, dst));
        dst += n * bytes;
        start += n;
        count -= n;
      }
      page_first += rows;
    }
    return count == 0 ? Status::OK()
                      : Status::Corruption(f_.name() + ": rows past the end of column " + std::to_string(column_));
  }
  // For rows [start, start + count) of a list column: each list's [begin, end) in the item column.
  Status read_list_ranges(uint64_t start, uint64_t count, std::vector<uint64_t>* begins,
                          std::vector<uint64_t>* ends) const {
    uint64_t page_first = 0, item_base = 0;
    const auto& pages = f_.column(column_).pages;
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < pages.size() && count > 0; ++i) {
      const uint64_t rows = pages[i].num_rows;
      LANCER_ASSIGN_OR_RETURN(auto e, encoding(i));
      if (!e.has_list() || !is_plain_flat(e.list().offsets(), 64)) return corrupt(i, "not a list of u64 offsets");
      const uint64_t items = e.list().num_items();
      if (start < page_first + rows) {
        if (pages[i].buffers[0].size < rows * 8) return corrupt(i, "offsets buffer too small");
        const uint64_t from = start - page_first, n = std::min(count, rows - from);
        offsets.resize(n + 1);
        offsets[0] = 0;
        if (from > 0)
          LANCER_RETURN_IF_ERROR(f_.file().read_at(pages[i].buffers[0].offset + (from - 1) * 8, 8, &offsets[0]));
        LANCER_RETURN_IF_ERROR(f_.file().read_at(pages[i].buffers[0].offset + from * 8, n * 8, &offsets[1]));
        for (uint64_t r = 0; r < n; ++r) {
          // A null list's end carries null_offset_adjustment; graph lists are never null.
          if (offsets[r + 1] < offsets[r] || offsets[r + 1] > items) return corrupt(i, "list offsets out of order");
          begins->push_back(item_base + offsets[r]);
          ends->push_back(item_base + offsets[r + 1]);
        }
        start += n;
        count -= n;
      }
      page_first += rows;
      item_base += items;
    }
    return count == 0 ? Status::OK() : Status::Corruption(f_.name() + ": rows past the end of the list column");
  }

 private:
  Status corrupt(size_t page, const std::string& what) const {
    return Status::Corruption(f_.name() + ": column " + std::to_string(column_) + " page " + std::to_string(page) +
                              ": " + what);
  }
  const lance::LanceFile& f_;
  size_t column_;
};

}  // namespace

Result<std::vector<std::string>> hnsw_partition_strings(const lance::LanceFile& index_file) {
  const auto& md = index_file.schema().metadata();
  auto it = md.find("lance:hnsw");
  if (it == md.end()) return Status::Corruption(index_file.name() + ": schema metadata lance:hnsw is missing");
  const auto json = nlohmann::json::parse(it->second, nullptr, false);
  if (!json.is_array()) return Status::Corruption(index_file.name() + ": lance:hnsw is not a JSON list");
  std::vector<std::string> out;
  for (const auto& s : json) {
    if (!s.is_string()) return Status::Corruption(index_file.name() + ": lance:hnsw holds a non-string");
    out.push_back(s.get<std::string>());
  }
  return out;
}

Result<graph::HnswGraph> read_hnsw_partition(const lance::LanceFile& index_file, uint64_t offset, uint64_t length,
                                             const std::string& partition_json) {
  graph::HnswGraph g;
  if (length == 0) return g;
  const std::string where = index_file.name() + ": HNSW partition at row " + std::to_string(offset);
  const auto json = nlohmann::json::parse(partition_json, nullptr, false);
  if (!json.is_object() || !json.contains("entry_point") || !json["entry_point"].is_number_unsigned() ||
      !json.contains("level_offsets") || !json["level_offsets"].is_array()) {
    return Status::Corruption(where + ": partition JSON lacks entry_point or level_offsets");
  }
  std::vector<uint64_t> level_offsets;
  for (const auto& v : json["level_offsets"]) {
    if (!v.is_number_unsigned()) return Status::Corruption(where + ": level_offsets holds a non-count");
    level_offsets.push_back(v.get<uint64_t>());
  }
  if (level_offsets.size() < 2 || level_offsets[0] != 0 || level_offsets.back() != length ||
      !std::is_sorted(level_offsets.begin(), level_offsets.end())) {
    return Status::Corruption(where + ": level_offsets do not split its " + std::to_string(length) + " rows");
  }
  if (index_file.num_columns() < 3) return Status::Corruption(where + ": index.idx lacks the graph columns");
  Column20 ids(index_file, kIdColumn), lists(index_file, kListColumn), items(index_file, kItemColumn);
  LANCER_RETURN_IF_ERROR(ids.check_version());
  std::vector<uint32_t> vector_ids(length);
  LANCER_RETURN_IF_ERROR(ids.read_values(offset, length, 4, vector_ids.data()));
  std::vector<uint64_t> begins, ends;
  LANCER_RETURN_IF_ERROR(lists.read_list_ranges(offset, length, &begins, &ends));
  // The partition's lists are contiguous in the item column: one read.
  std::vector<uint32_t> neighbors(ends.back() - begins.front());
  LANCER_RETURN_IF_ERROR(items.read_values(begins.front(), neighbors.size(), 4, neighbors.data()));

  g.num_nodes = static_cast<uint32_t>(level_offsets[1]);
  g.entry_point = json["entry_point"].get<uint32_t>();
  if (g.entry_point >= g.num_nodes) return Status::Corruption(where + ": entry_point past the level-0 nodes");
  for (size_t l = 0; l + 1 < level_offsets.size() && level_offsets[l + 1] > level_offsets[l]; ++l) {
    graph::HnswGraph::Level level;
    level.offsets.push_back(0);
    for (uint64_t r = level_offsets[l]; r < level_offsets[l + 1]; ++r) {
      const uint32_t node = vector_ids[r];
      if (node >= g.num_nodes || (l == 0 && node != r) || (!level.nodes.empty() && node <= level.nodes.back())) {
        return Status::Corruption(where + ": level " + std::to_string(l) + " row " + std::to_string(r) +
                                  " holds node " + std::to_string(node) + " out of order");
      }
      level.nodes.push_back(node);
      for (uint64_t e = begins[r]; e < ends[r]; ++e) {
        const uint32_t nb = neighbors[e - begins.front()];
        if (nb >= g.num_nodes)
          return Status::Corruption(where + ": neighbour " + std::to_string(nb) + " past the nodes");
        level.neighbors.push_back(nb);
      }
      level.offsets.push_back(level.neighbors.size());
    }
    g.levels.push_back(std::move(level));
  }
  return g;
}

}  // namespace lancer::search
