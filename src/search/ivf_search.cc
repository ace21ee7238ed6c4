// IVF search over committed index segments, lancer's or Lance's own (see
// search/segment.h for the layouts; docs/index-format.md for how Lance
// computes each distance).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "core/half.h"
#include "dataset/fragment.h"
#include "dataset/take.h"
#include "dataset/vector_stream.h"
#include "graph/hnsw_search.h"
#include "lancer/search.h"
#include "quant/codec.h"
#include "search/segment.h"
#include "simd/convert.h"
#include "simd/distance.h"
#include "storage/file_io.h"

namespace lancer {

namespace {

using quant::exact_distance;
using quant::Metric;
using search::Segment;

using core::round_to_half;

using Candidate = std::pair<float, uint64_t>;

// IVF_HNSW_*: the `per_partition` best rows of partition p found through its graph with an
// `ef` beam, scored by the codec's scanner (ids/storage: the partition's rows).
Status search_graph(const Segment& s, uint32_t p, const std::vector<uint64_t>& ids, const std::vector<uint8_t>& storage,
                    quant::PartitionScanner& scanner, size_t per_partition, size_t ef, std::vector<Candidate>* out) {
  LANCER_ASSIGN_OR_RETURN(const graph::HnswGraph g, search::read_partition_graph(s, p));
  // The scanner reads rows as the file lays out a partition: PQ codes byte-major
  // (transposed), so the gathered rows are laid out that way too.
  const auto columns = s.codec->columns();
  const bool transposed = columns.size() == 1 && columns[0].transposed;
  const size_t rows = ids.size(), bytes = s.storage_bytes;
  std::vector<uint8_t> gathered;
  auto score = [&](const uint32_t* nodes, size_t n, float* dist) {
    gathered.resize(n * bytes);
    for (size_t i = 0; i < n; ++i) {
      if (transposed) {
        for (size_t b = 0; b < bytes; ++b) gathered[b * n + i] = storage[b * rows + nodes[i]];
      } else {
        std::memcpy(gathered.data() + i * bytes, storage.data() + size_t{nodes[i]} * bytes, bytes);
      }
    }
    scanner.scan(gathered.data(), n, dist);
  };
  graph::HnswSearcher searcher(g);
  for (const graph::ScoredNode& hit : searcher.search(per_partition, ef, score)) {
    out->push_back({hit.distance, ids[hit.node]});
  }
  return Status::OK();
}

// Candidates of one segment for one query: every row of the probed partitions, or with a graph
// the `per_partition` best of each.
Status search_segment(Segment& s, const float* query, size_t nprobes, size_t per_partition, size_t ef,
                      std::vector<Candidate>* out) {
  const size_t d = s.dim;
  std::vector<float> q(query, query + d);
  if (s.metric == Metric::kCosine) {
    const float norm = std::sqrt(simd::dot(q.data(), q.data(), d));
    if (norm > 0) {
      for (auto& x : q) x /= norm;
    }
    if (s.element == lance::ElementType::kFloat16) {
      for (auto& x : q) x = round_to_half(x);  // normalised in half precision
    }
  }
  // Partitions: nearest centroids (largest inner product for dot).
  std::vector<Candidate> parts(s.nlist);
  for (uint32_t p = 0; p < s.nlist; ++p) {
    const float* c = s.centroids.data() + size_t{p} * d;
    parts[p] = {s.metric == Metric::kDot ? -simd::dot(q.data(), c, d) : simd::l2_sqr(q.data(), c, d), p};
  }
  nprobes = std::min<size_t>(nprobes, s.nlist);
  std::partial_sort(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(nprobes), parts.end());
  // The codec scores the stored rows (exact, SQ code space, or PQ ADC tables).
  auto scanner = s.codec->scanner(q.data(), s.metric, s.element == lance::ElementType::kFloat16);
  std::vector<uint64_t> ids;
  std::vector<uint8_t> storage;
  std::vector<float> dists;
  for (size_t i = 0; i < nprobes; ++i) {
    const uint32_t p = static_cast<uint32_t>(parts[i].second);
    const uint64_t n = s.lengths[p];
    if (n == 0) continue;
    LANCER_RETURN_IF_ERROR(search::read_partition(s, p, &ids, &storage).context(s.name));
    scanner->set_partition(s.centroids.data() + size_t{p} * d);
    if (s.graph_file) {
      LANCER_RETURN_IF_ERROR(search_graph(s, p, ids, storage, *scanner, per_partition, ef, out));
      continue;
    }
    dists.resize(n);
    scanner->scan(storage.data(), n, dists.data());
    for (uint64_t r = 0; r < n; ++r) out->push_back({dists[r], ids[r]});
  }
  return Status::OK();
}

// Which row ids an index may return, and where those rows are now: row
// addresses whose fragment is still in the dataset and whose offset is not
// deleted; with stable row ids, the ids of the fragments' row-id sequences
// (format notes 3.10) less the deleted rows.
class LiveRows {
 public:
  static Result<LiveRows> load(const dataset::Dataset& ds) {
    LiveRows live;
    live.stable_ = ds.has_stable_row_ids();
    for (size_t i = 0; i < ds.fragments().size(); ++i) {
      const dataset::Fragment frag(ds, i);
      LANCER_ASSIGN_OR_RETURN(std::vector<uint32_t> deleted, frag.deletions());  // sorted
      if (!live.stable_) {
        live.fragments_.insert(frag.id());
        if (!deleted.empty()) live.deleted_[frag.id()] = std::move(deleted);
        continue;
      }
      LANCER_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, frag.stable_row_ids());
      for (uint64_t off = 0; off < ids.size(); ++off) {
        if (std::binary_search(deleted.begin(), deleted.end(), static_cast<uint32_t>(off))) continue;
        live.stable_ids_.emplace_back(ids[off], frag.address(off));
      }
    }
    std::sort(live.stable_ids_.begin(), live.stable_ids_.end());
    return live;
  }

  bool stable() const { return stable_; }

  // The row address of `row_id` if it is a live row.
  std::optional<uint64_t> address(uint64_t row_id) const {
    if (stable_) {
      auto it = std::lower_bound(stable_ids_.begin(), stable_ids_.end(), std::make_pair(row_id, uint64_t{0}));
      if (it == stable_ids_.end() || it->first != row_id) return std::nullopt;
      return it->second;
    }
    const uint64_t frag = row_id >> 32;
    if (!fragments_.count(frag)) return std::nullopt;
    auto it = deleted_.find(frag);
    if (it != deleted_.end() &&
        std::binary_search(it->second.begin(), it->second.end(), static_cast<uint32_t>(row_id & 0xffffffffu))) {
      return std::nullopt;
    }
    return row_id;
  }

 private:
  bool stable_ = false;
  std::set<uint64_t> fragments_;
  std::map<uint64_t, std::vector<uint32_t>> deleted_;      // sorted offsets
  std::vector<std::pair<uint64_t, uint64_t>> stable_ids_;  // (stable id, address), sorted
};

// The stored vectors of live rows `ids`, as float32 rows.
Status take_rows(const std::shared_ptr<const dataset::Dataset>& ds, const dataset::VectorColumn& column,
                 const LiveRows& live, const std::vector<uint64_t>& ids, std::vector<float>* out) {
  const size_t dim = column.type.dim, rb = column.type.row_bytes();
  std::vector<uint8_t> values;
  if (!live.stable()) {
    std::vector<uint8_t> valid;
    LANCER_RETURN_IF_ERROR(dataset::take_vectors(*ds, column, ids, &values, &valid));
  } else {
    // take_vectors reads by address only; with stable ids, stream the few
    // fragments that hold the rows and pick them out by id.
    values.assign(ids.size() * rb, 0);
    std::map<uint64_t, std::vector<size_t>> wanted;  // stable id -> result rows
    std::set<uint64_t> frags;
    for (size_t i = 0; i < ids.size(); ++i) {
      wanted[ids[i]].push_back(i);
      frags.insert(*live.address(ids[i]) >> 32);
    }
    dataset::StreamOptions so;
    so.fragment_ids.assign(frags.begin(), frags.end());
    LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(ds, column.path, so));
    dataset::VectorBatch batch;
    for (;;) {
      LANCER_ASSIGN_OR_RETURN(bool more, stream->next(&batch));
      if (!more) break;
      for (size_t r = 0; r < batch.num_rows; ++r) {
        auto it = wanted.find(batch.row_ids[r]);
        if (it == wanted.end()) continue;
        for (size_t i : it->second) std::memcpy(values.data() + i * rb, batch.values.data() + r * rb, rb);
      }
    }
  }
  simd::to_float32(values.data(), ids.size() * dim, column.type.element, out);
  return Status::OK();
}

// The fragments the index does not cover, searched exhaustively in one pass for every query:
// each query's k nearest rows (by distance, then row id: the order the final sort uses) are
// added to its candidates. Streaming them once per query instead read them nq times.
Status add_nearest_unindexed(const std::shared_ptr<const dataset::Dataset>& ds, const dataset::VectorColumn& column,
                             const std::vector<uint64_t>& fragments, Metric metric, const std::vector<float>& qs,
                             size_t k, std::vector<std::vector<Candidate>>& found) {
  if (k == 0) return Status::OK();
  const size_t dim = column.type.dim, nq = found.size();
  std::vector<std::vector<Candidate>> nearest(nq);  // max-heaps of at most k
  dataset::StreamOptions so;
  so.fragment_ids = fragments;
  LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(ds, column.path, so));
  dataset::VectorBatch batch;
  std::vector<float> floats;
  for (;;) {
    LANCER_ASSIGN_OR_RETURN(bool more, stream->next(&batch));
    if (!more) break;
    simd::to_float32(batch.values.data(), batch.num_rows * dim, column.type.element, &floats);
    const float* v = floats.data();
    for (size_t qi = 0; qi < nq; ++qi) {
      const float* q = qs.data() + qi * dim;
      std::vector<Candidate>& heap = nearest[qi];
      for (size_t r = 0; r < batch.num_rows; ++r) {
        const Candidate c{exact_distance(metric, q, v + r * dim, dim), batch.row_ids[r]};
        if (heap.size() < k) {
          heap.push_back(c);
          std::push_heap(heap.begin(), heap.end());
        } else if (c < heap.front()) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = c;
          std::push_heap(heap.begin(), heap.end());
        }
      }
    }
  }
  for (size_t qi = 0; qi < nq; ++qi) found[qi].insert(found[qi].end(), nearest[qi].begin(), nearest[qi].end());
  return Status::OK();
}

}  // namespace

Result<std::vector<std::vector<SearchHit>>> search_index(const SearchOptions& o, const std::vector<float>& queries,
                                                         size_t dim) {
  LANCER_RETURN_IF_ERROR(storage::configure(o.uri, o.storage_options));
  LANCER_ASSIGN_OR_RETURN(auto ds, dataset::Dataset::open(o.uri));
  LANCER_ASSIGN_OR_RETURN(auto indices, ds->indices());
  std::string column_path;
  // The segments of the named index.
  std::vector<Segment> segments;
  std::optional<dataset::VectorColumn> column;
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i].name != o.index_name) continue;
    if (indices[i].fields.empty()) return Status::Corruption("index " + o.index_name + " names no field");
    for (const auto& f : ds->fields()) {
      if (f.id == indices[i].fields[0]) column_path = f.path;
    }
    LANCER_ASSIGN_OR_RETURN(auto col, ds->vector_column(column_path));
    column = col;
  }
  if (!column) return Status::NotFound("index " + o.index_name + " does not exist in " + ds->root());
  if (column->type.element == lance::ElementType::kUInt8) {
    return Status::NotSupported("searching uint8 columns is not implemented");
  }
  if (dim != column->type.dim) {
    return Status::InvalidArgument("queries have " + std::to_string(dim) + " dimensions, the column has " +
                                   std::to_string(column->type.dim));
  }
  if (queries.size() % dim != 0) {
    return Status::InvalidArgument(std::to_string(queries.size()) + " query values are not a whole number of " +
                                   std::to_string(dim) + "-dimension queries (" + std::to_string(queries.size() % dim) +
                                   " left over)");
  }
  std::set<uint32_t> covered;
  for (const auto& idx : ds->raw_indices()) {
    if (idx.name() != o.index_name) continue;
    LANCER_ASSIGN_OR_RETURN(Segment s, search::open_segment(ds->root(), idx, column->type));
    segments.push_back(std::move(s));
  }
  for (const auto& info : indices) {
    if (info.name == o.index_name) covered.insert(info.fragment_ids.begin(), info.fragment_ids.end());
  }
  if (segments.empty()) return Status::NotFound("index " + o.index_name + " has no segments in " + ds->root());
  const Metric metric = segments.front().metric;
  LANCER_ASSIGN_OR_RETURN(LiveRows live, LiveRows::load(*ds));
  // Fragments the index does not cover are searched exhaustively.
  std::vector<uint64_t> uncovered;
  for (const auto& f : ds->fragments()) {
    if (!covered.count(static_cast<uint32_t>(f.id))) uncovered.push_back(f.id);
  }

  // A graph returns k x refine_factor rows per partition, from a beam of ef (Lance's default:
  // 1.5 times that).
  const size_t per_partition = o.k * std::max<size_t>(1, o.refine_factor);
  const size_t ef = o.ef ? o.ef : per_partition + per_partition / 2;
  const bool graphs = std::any_of(segments.begin(), segments.end(),
                                  [](const Segment& s) { return s.kind.sub == quant::SubIndexKind::kHnsw; });
  if (graphs && ef < per_partition) {
    return Status::InvalidArgument("ef " + std::to_string(ef) +
                                   " is less than k x refine_factor = " + std::to_string(per_partition));
  }
  const size_t nq = queries.size() / dim;
  // Lance casts the query to the column's element type first: for float16
  // columns every distance (partitions, codes, exact) starts from the
  // query rounded to half precision.
  std::vector<float> qs(queries);
  if (column->type.element == lance::ElementType::kFloat16) {
    for (auto& x : qs) x = round_to_half(x);
  }
  std::vector<std::vector<Candidate>> found(nq);
  for (size_t qi = 0; qi < nq; ++qi) {
    const float* q = qs.data() + qi * dim;
    std::vector<Candidate>& cands = found[qi];
    for (auto& s : segments) LANCER_RETURN_IF_ERROR(search_segment(s, q, o.nprobes, per_partition, ef, &cands));
    cands.erase(std::remove_if(cands.begin(), cands.end(),
                               [&](const Candidate& c) { return !live.address(c.second).has_value(); }),
                cands.end());
    // Approximate distances are replaced by exact ones when asked to re-rank,
    // and also when unindexed fragments are merged in: Lance does the same
    // so that the two kinds of distance are comparable. IVF_FLAT is re-ranked
    // too when asked: its stored vectors are normalised for cosine, which in
    // float16 changes the distance.
    const bool quantized = segments.front().kind.quantizer != quant::QuantizerKind::kFlat;
    const bool rerank = o.refine_factor > 0 || (quantized && !uncovered.empty());
    const size_t keep = o.k * std::max<size_t>(1, rerank ? o.refine_factor : 1);
    std::sort(cands.begin(), cands.end());
    if (cands.size() > keep) cands.resize(keep);
    if (rerank) {
      std::vector<uint64_t> ids;
      for (const auto& c : cands) ids.push_back(c.second);
      std::vector<float> floats;
      LANCER_RETURN_IF_ERROR(take_rows(ds, *column, live, ids, &floats));
      const float* v = floats.data();
      for (size_t i = 0; i < cands.size(); ++i) cands[i].first = exact_distance(metric, q, v + i * dim, dim);
    }
  }
  if (!uncovered.empty()) {
    LANCER_RETURN_IF_ERROR(add_nearest_unindexed(ds, *column, uncovered, metric, qs, o.k, found));
  }
  std::vector<std::vector<SearchHit>> results(nq);
  for (size_t qi = 0; qi < nq; ++qi) {
    std::vector<Candidate>& cands = found[qi];
    std::sort(cands.begin(), cands.end());
    if (cands.size() > o.k) cands.resize(o.k);
    for (const auto& c : cands) results[qi].push_back({c.second, c.first});
  }
  return results;
}

}  // namespace lancer
