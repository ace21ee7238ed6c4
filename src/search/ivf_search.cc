// IVF search over lancer-written index segments (file format 2.0 aux files).
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file_io.h"
#include "core/uuid.h"
#include "dataset/take.h"
#include "dataset/vector_stream.h"
#include "encodings_v2_0.pb.h"
#include "index.pb.h"
#include "lance/deletion.h"
#include "lance/file_reader.h"
#include "lancer/search.h"
#include "simd/distance.h"

namespace lancer {

namespace {

enum class Kind { kFlat, kSq, kPq };
enum class Metric { kL2, kCosine, kDot };

// A float32 or float16 tensor's values as float32; empty if it is neither.
std::vector<float> tensor_floats(const ::lance::index::pb::Tensor& t) {
  std::vector<float> out;
  if (t.data_type() == ::lance::index::pb::Tensor::FLOAT32 && t.data().size() % 4 == 0) {
    out.resize(t.data().size() / 4);
    std::memcpy(out.data(), t.data().data(), t.data().size());
  } else if (t.data_type() == ::lance::index::pb::Tensor::FLOAT16 && t.data().size() % 2 == 0) {
    dataset::to_float32(reinterpret_cast<const uint8_t*>(t.data().data()), t.data().size() / 2,
                        lance::ElementType::kFloat16, &out);
  }
  return out;
}

struct Segment {
  lance::ElementType element = lance::ElementType::kFloat32;
  Kind kind = Kind::kFlat;
  Metric metric = Metric::kL2;
  uint32_t dim = 0, nlist = 0;
  std::vector<float> centroids;
  std::vector<uint64_t> offsets, lengths;
  std::shared_ptr<const lance::LanceFile> aux;
  size_t rowid_col = 0, storage_col = 0, storage_bytes = 0;
  // SQ
  double sq_start = 0, sq_end = 0;
  // PQ
  int m = 0, nbits = 8;
  bool transposed = true;
  std::vector<float> codebook;  // [m][2^nbits][dim/m]
  std::set<uint32_t> fragments;
};

std::string meta(const lance::LanceFile& f, const std::string& key) {
  auto it = f.schema().metadata().find(key);
  return it == f.schema().metadata().end() ? std::string() : it->second;
}

Result<::lance::index::pb::IVF> read_ivf(const lance::LanceFile& f) {
  const std::string pos = meta(f, "lance:ivf");
  if (pos.empty() || pos.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Corruption(f.name() + ": schema metadata lance:ivf is missing or not a number");
  }
  LANCER_ASSIGN_OR_RETURN(auto bytes, f.read_global_buffer(std::stoul(pos)));
  ::lance::index::pb::IVF ivf;
  if (!ivf.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption(f.name() + ": the IVF global buffer does not parse");
  }
  return ivf;
}

// Rows [start, start + count) of a fixed-width column of a 2.0 file.
Status read_rows(const lance::LanceFile& f, size_t col, uint64_t start, uint64_t count, size_t row_bytes,
                 uint8_t* out) {
  if (f.version().minor != 0) {
    return Status::NotSupported(f.name() + ": searching index files of file version " + f.version().to_string() +
                                " (written by Lance itself) is not implemented");
  }
  uint64_t page_first = 0;
  for (const auto& page : f.column(col).pages) {
    const uint64_t page_end = page_first + page.num_rows;
    if (page_end > start && page_first < start + count) {
      if (page.buffers.size() != 1 || page.buffers[0].size != page.num_rows * row_bytes) {
        return Status::Corruption(f.name() + ": column " + std::to_string(col) + " has a page that is not flat");
      }
      const uint64_t from = std::max(start, page_first), to = std::min(start + count, page_end);
      LANCER_RETURN_IF_ERROR(f.file().read_at(page.buffers[0].offset + (from - page_first) * row_bytes,
                                              (to - from) * row_bytes, out + (from - start) * row_bytes));
    }
    page_first = page_end;
  }
  if (page_first < start + count) return Status::Corruption(f.name() + ": rows past the end of the column");
  return Status::OK();
}

Result<Segment> open_segment(const std::string& root, const ::lance::table::IndexMetadata& idx,
                             const lance::VectorType& column) {
  Segment s;
  const std::string dir = core::join_path(root, "_indices/" + core::uuid_to_string(idx.uuid().uuid()));
  LANCER_ASSIGN_OR_RETURN(auto index_file, lance::LanceFile::open(core::join_path(dir, "index.idx"), dir + "/index.idx"));
  LANCER_ASSIGN_OR_RETURN(s.aux, lance::LanceFile::open(core::join_path(dir, "auxiliary.idx"), dir + "/auxiliary.idx"));
  auto info = nlohmann::json::parse(meta(*index_file, "lance:index"), nullptr, false);
  if (info.is_discarded() || !info.contains("type")) return Status::Corruption(index_file->name() + ": bad lance:index");
  const std::string type = info["type"], metric = info.value("distance_type", "l2");
  if (type == "IVF_FLAT") s.kind = Kind::kFlat;
  else if (type == "IVF_SQ") s.kind = Kind::kSq;
  else if (type == "IVF_PQ") s.kind = Kind::kPq;
  else return Status::NotSupported("searching " + type + " indexes is not implemented");
  s.metric = metric == "cosine" ? Metric::kCosine : metric == "dot" ? Metric::kDot : Metric::kL2;
  if (metric != "l2" && metric != "cosine" && metric != "dot") return Status::NotSupported("metric " + metric);
  s.dim = column.dim;
  LANCER_ASSIGN_OR_RETURN(auto ivf, read_ivf(*index_file));
  const auto& t = ivf.centroids_tensor();
  s.centroids = tensor_floats(t);
  if (t.shape_size() != 2 || t.shape(1) != s.dim || s.centroids.size() != size_t{t.shape(0)} * s.dim) {
    return Status::NotSupported(index_file->name() + ": centroids are not a float32/float16 [nlist, dim] tensor");
  }
  s.nlist = t.shape(0);
  s.element = column.element;
  LANCER_ASSIGN_OR_RETURN(auto aux_ivf, read_ivf(*s.aux));
  if (aux_ivf.offsets_size() != static_cast<int>(s.nlist) || aux_ivf.lengths_size() != static_cast<int>(s.nlist)) {
    return Status::Corruption(s.aux->name() + ": partition table does not match " + std::to_string(s.nlist) + " centroids");
  }
  s.offsets.assign(aux_ivf.offsets().begin(), aux_ivf.offsets().end());
  s.lengths.assign(aux_ivf.lengths().begin(), aux_ivf.lengths().end());
  for (int i = 0; i < s.aux->schema().fields_size(); ++i) {
    const auto& f = s.aux->schema().fields(i);
    if (f.name() == "_rowid") s.rowid_col = static_cast<size_t>(i);
    if (f.name() == "flat" || f.name() == "__sq_code" || f.name() == "__pq_code") s.storage_col = static_cast<size_t>(i);
  }
  auto storage = nlohmann::json::parse(meta(*s.aux, "storage_metadata"), nullptr, false);
  if (storage.is_discarded() || !storage.is_array() || storage.empty()) {
    return Status::Corruption(s.aux->name() + ": bad storage_metadata");
  }
  auto q = nlohmann::json::parse(storage[0].get<std::string>(), nullptr, false);
  if (s.kind == Kind::kFlat) {
    s.storage_bytes = column.row_bytes();
  } else if (s.kind == Kind::kSq) {
    s.sq_start = q["bounds"]["start"];
    s.sq_end = q["bounds"]["end"];
    s.storage_bytes = s.dim;
  } else {
    s.m = q["num_sub_vectors"];
    s.nbits = q["nbits"];
    s.transposed = q.value("transposed", true);
    if (s.nbits != 8) return Status::NotSupported("searching 4-bit PQ is not implemented");
    LANCER_ASSIGN_OR_RETURN(auto cb_bytes, s.aux->read_global_buffer(q["codebook_position"].get<size_t>()));
    ::lance::index::pb::Tensor cb;
    if (!cb.ParseFromArray(cb_bytes.data(), static_cast<int>(cb_bytes.size()))) {
      return Status::Corruption(s.aux->name() + ": PQ codebook tensor does not parse");
    }
    s.codebook = tensor_floats(cb);
    if (s.codebook.size() != size_t{256} * s.dim) {
      return Status::Corruption(s.aux->name() + ": PQ codebook tensor is not 256 x " + std::to_string(s.dim));
    }
    s.storage_bytes = static_cast<size_t>(s.m);
  }
  return s;
}

float exact_distance(Metric metric, const float* q, const float* v, size_t d) {
  switch (metric) {
    case Metric::kL2: return simd::l2_sqr(q, v, d);
    case Metric::kCosine: return simd::cosine_distance(q, v, d);
    case Metric::kDot: return 1.0f - simd::dot(q, v, d);
  }
  return 0;
}

using Candidate = std::pair<float, uint64_t>;

// Candidates of one segment for one query.
Status search_segment(const Segment& s, const float* query, size_t nprobes, std::vector<Candidate>* out) {
  const size_t d = s.dim;
  std::vector<float> q(query, query + d);
  if (s.metric == Metric::kCosine) {
    const float norm = std::sqrt(simd::dot(q.data(), q.data(), d));
    if (norm > 0) for (auto& x : q) x /= norm;
  }
  // Partitions: nearest centroids (largest inner product for dot).
  std::vector<Candidate> parts(s.nlist);
  for (uint32_t p = 0; p < s.nlist; ++p) {
    const float* c = s.centroids.data() + size_t{p} * d;
    parts[p] = {s.metric == Metric::kDot ? -simd::dot(q.data(), c, d) : simd::l2_sqr(q.data(), c, d), p};
  }
  nprobes = std::min<size_t>(nprobes, s.nlist);
  std::partial_sort(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(nprobes), parts.end());
  std::vector<uint64_t> ids;
  std::vector<uint8_t> storage;
  std::vector<float> table, resid(d), flat;
  for (size_t i = 0; i < nprobes; ++i) {
    const uint32_t p = static_cast<uint32_t>(parts[i].second);
    const uint64_t n = s.lengths[p], first = s.offsets[p];
    if (n == 0) continue;
    ids.resize(n);
    storage.resize(n * s.storage_bytes);
    LANCER_RETURN_IF_ERROR(read_rows(*s.aux, s.rowid_col, first, n, 8, reinterpret_cast<uint8_t*>(ids.data())));
    LANCER_RETURN_IF_ERROR(read_rows(*s.aux, s.storage_col, first, n, s.storage_bytes, storage.data()));
    if (s.kind == Kind::kFlat) {
      dataset::to_float32(storage.data(), n * d, s.element, &flat);
      const float* v = flat.data();
      for (uint64_t r = 0; r < n; ++r) out->push_back({exact_distance(s.metric, q.data(), v + r * d, d), ids[r]});
    } else if (s.kind == Kind::kSq) {
      const double scale = (s.sq_end - s.sq_start) / 255.0;
      std::vector<float> v(d);
      // l2 / cosine: the query is quantized too and compared in code space
      // (scale^2 * sum (qc - c)^2), which is what Lance's distances match.
      std::vector<float> qc(d);
      for (size_t j = 0; j < d; ++j) {
        double c = std::floor((double(q[j]) - s.sq_start) * 255.0 / (s.sq_end - s.sq_start));
        qc[j] = static_cast<float>(std::isnan(c) ? 0.0 : std::clamp(c, 0.0, 255.0));
      }
      for (uint64_t r = 0; r < n; ++r) {
        float dist;
        if (s.metric == Metric::kDot) {
          for (size_t j = 0; j < d; ++j) v[j] = static_cast<float>(s.sq_start + storage[r * d + j] * scale);
          dist = 1.0f - simd::dot(q.data(), v.data(), d);
        } else {
          for (size_t j = 0; j < d; ++j) v[j] = static_cast<float>(storage[r * d + j]);
          dist = static_cast<float>(scale * scale) * simd::l2_sqr(qc.data(), v.data(), d);
        }
        out->push_back({dist, ids[r]});
      }
    } else {
      // ADC: table[s][k] = |r_s - codeword| ^ 2 (l2, cosine: residual r = q - c_p) or -q_s . codeword (dot).
      const size_t sd = d / static_cast<size_t>(s.m);
      const float* c = s.centroids.data() + size_t{p} * d;
      for (size_t j = 0; j < d; ++j) resid[j] = s.metric == Metric::kDot ? q[j] : q[j] - c[j];
      table.resize(size_t(s.m) * 256);
      for (int sub = 0; sub < s.m; ++sub) {
        for (int k = 0; k < 256; ++k) {
          const float* cw = s.codebook.data() + (size_t(sub) * 256 + size_t(k)) * sd;
          table[size_t(sub) * 256 + size_t(k)] = s.metric == Metric::kDot ? -simd::dot(resid.data() + sub * sd, cw, sd)
                                                                          : simd::l2_sqr(resid.data() + sub * sd, cw, sd);
        }
      }
      for (uint64_t r = 0; r < n; ++r) {
        float dist = s.metric == Metric::kDot ? 1.0f : 0.0f;
        for (int sub = 0; sub < s.m; ++sub) {
          const uint8_t code = s.transposed ? storage[size_t(sub) * n + r] : storage[r * size_t(s.m) + size_t(sub)];
          dist += table[size_t(sub) * 256 + code];
        }
        out->push_back({dist, ids[r]});
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<std::vector<SearchHit>>> search_index(const SearchOptions& o, const std::vector<float>& queries,
                                                         size_t dim) {
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
  std::set<uint32_t> covered;
  for (const auto& idx : ds->raw_indices()) {
    if (idx.name() != o.index_name) continue;
    LANCER_ASSIGN_OR_RETURN(Segment s, open_segment(ds->root(), idx, column->type));
    segments.push_back(std::move(s));
  }
  for (const auto& info : indices) {
    if (info.name == o.index_name) covered.insert(info.fragment_ids.begin(), info.fragment_ids.end());
  }
  const Metric metric = segments.front().metric;
  // Rows to skip: deleted now, or in fragments no longer in the dataset.
  std::map<uint64_t, std::set<uint32_t>> deleted;
  std::set<uint64_t> live_fragments;
  for (size_t i = 0; i < ds->fragments().size(); ++i) {
    const auto& proto = ds->fragment_proto(i);
    live_fragments.insert(proto.id());
    if (!proto.has_deletion_file()) continue;
    const auto& del = proto.deletion_file();
    const auto kind = del.file_type() == ::lance::table::DeletionFile::BITMAP ? lance::DeletionFileKind::kBitmap
                                                                              : lance::DeletionFileKind::kArrowArray;
    LANCER_ASSIGN_OR_RETURN(auto offsets, lance::read_deletion_file(
        core::join_path(ds->root(), lance::deletion_file_relative_path(proto.id(), del.read_version(), del.id(), kind)),
        kind, proto.physical_rows()));
    deleted[proto.id()].insert(offsets.begin(), offsets.end());
  }
  auto is_live = [&](uint64_t addr) {
    const uint64_t frag = addr >> 32;
    if (!live_fragments.count(frag)) return false;
    auto it = deleted.find(frag);
    return it == deleted.end() || !it->second.count(static_cast<uint32_t>(addr & 0xffffffffu));
  };
  // Fragments the index does not cover are searched exhaustively.
  std::vector<uint64_t> uncovered;
  for (const auto& f : ds->fragments()) {
    if (!covered.count(static_cast<uint32_t>(f.id))) uncovered.push_back(f.id);
  }

  const size_t nq = queries.size() / dim;
  std::vector<std::vector<SearchHit>> results(nq);
  for (size_t qi = 0; qi < nq; ++qi) {
    const float* q = queries.data() + qi * dim;
    std::vector<Candidate> cands;
    for (const auto& s : segments) LANCER_RETURN_IF_ERROR(search_segment(s, q, o.nprobes, &cands));
    cands.erase(std::remove_if(cands.begin(), cands.end(), [&](const Candidate& c) { return !is_live(c.second); }),
                cands.end());
    // Approximate distances are replaced by exact ones when asked to re-rank,
    // and also when unindexed fragments are merged in: Lance does the same
    // so that the two kinds of distance are comparable.
    const bool rerank = segments.front().kind != Kind::kFlat && (o.refine_factor > 0 || !uncovered.empty());
    const size_t keep = o.k * std::max<size_t>(1, rerank ? o.refine_factor : 1);
    std::sort(cands.begin(), cands.end());
    if (cands.size() > keep) cands.resize(keep);
    if (rerank) {
      std::vector<uint64_t> addrs;
      for (const auto& c : cands) addrs.push_back(c.second);
      std::vector<uint8_t> values, valid;
      LANCER_RETURN_IF_ERROR(dataset::take_vectors(*ds, *column, addrs, &values, &valid));
      std::vector<float> floats;
      dataset::to_float32(values.data(), addrs.size() * dim, column->type.element, &floats);
      const float* v = floats.data();
      for (size_t i = 0; i < cands.size(); ++i) cands[i].first = exact_distance(metric, q, v + i * dim, dim);
    }
    if (!uncovered.empty()) {
      dataset::StreamOptions so;
      so.fragment_ids = uncovered;
      LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(ds, column->path, so));
      dataset::VectorBatch batch;
      for (;;) {
        LANCER_ASSIGN_OR_RETURN(bool more, stream->next(&batch));
        if (!more) break;
        std::vector<float> floats;
        dataset::to_float32(batch.values.data(), batch.num_rows * dim, column->type.element, &floats);
        const float* v = floats.data();
        for (size_t r = 0; r < batch.num_rows; ++r) {
          cands.push_back({exact_distance(metric, q, v + r * dim, dim), batch.row_ids[r]});
        }
      }
    }
    std::sort(cands.begin(), cands.end());
    if (cands.size() > o.k) cands.resize(o.k);
    for (const auto& c : cands) results[qi].push_back({c.second, c.first});
  }
  return results;
}

}  // namespace lancer
