#include "search/segment.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/uuid.h"
#include "index.pb.h"
#include "index_legacy.pb.h"
#include "quant/pq_codec.h"
#include "quant/registry.h"
#include "search/hnsw_graph_file.h"
#include "simd/convert.h"

namespace lancer::search {

namespace {

// A float32 or float16 tensor's values as float32; empty if it is neither.
std::vector<float> tensor_floats(const ::lance::index::pb::Tensor& t) {
  std::vector<float> out;
  if (t.data().empty()) return out;  // memcpy from an empty vector's null data() is undefined
  if (t.data_type() == ::lance::index::pb::Tensor::FLOAT32 && t.data().size() % 4 == 0) {
    out.resize(t.data().size() / 4);
    std::memcpy(out.data(), t.data().data(), t.data().size());
  } else if (t.data_type() == ::lance::index::pb::Tensor::FLOAT16 && t.data().size() % 2 == 0) {
    simd::to_float32(reinterpret_cast<const uint8_t*>(t.data().data()), t.data().size() / 2,
                     lance::ElementType::kFloat16, &out);
  }
  return out;
}

std::string meta(const lance::LanceFile& f, const std::string& key) {
  auto it = f.schema().metadata().find(key);
  return it == f.schema().metadata().end() ? std::string() : it->second;
}

Result<::lance::index::pb::IVF> read_ivf(const lance::LanceFile& f) {
  const std::string pos = meta(f, "lance:ivf");
  if (pos.empty() || pos.size() > 9 || pos.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Corruption(f.name() + ": schema metadata lance:ivf is missing or not a number");
  }
  LANCER_ASSIGN_OR_RETURN(auto bytes, f.read_global_buffer(std::stoul(pos)));
  ::lance::index::pb::IVF ivf;
  if (!ivf.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption(f.name() + ": the IVF global buffer does not parse");
  }
  return ivf;
}

// The IVF message's centroids: the tensor, or the deprecated float list.
Status set_centroids(const ::lance::index::pb::IVF& ivf, const std::string& where, Segment* s) {
  if (ivf.has_centroids_tensor()) {
    const auto& t = ivf.centroids_tensor();
    s->centroids = tensor_floats(t);
    if (t.shape_size() != 2 || t.shape(1) != s->dim || s->centroids.size() != size_t{t.shape(0)} * s->dim) {
      return Status::NotSupported(where + ": centroids are not a float32/float16 [nlist, " + std::to_string(s->dim) +
                                  "] tensor");
    }
    s->nlist = t.shape(0);
  } else if (ivf.centroids_size() > 0 && ivf.centroids_size() % static_cast<int>(s->dim) == 0) {
    // The deprecated IVF.centroids (field 1): nlist x dim float32.
    s->centroids.assign(ivf.centroids().begin(), ivf.centroids().end());
    s->nlist = static_cast<uint32_t>(s->centroids.size() / s->dim);
  } else {
    return Status::Corruption(where + ": the IVF message holds no centroids");
  }
  return Status::OK();
}

// An IVF message's per-partition row ranges (`where` names its file): one per centroid; newer
// Lance accepts offsets left out, then they are the prefix sums of the lengths.
Status partition_table(const ::lance::index::pb::IVF& ivf, uint32_t nlist, const std::string& where,
                       std::vector<uint64_t>* offsets, std::vector<uint64_t>* lengths) {
  if (ivf.lengths_size() != static_cast<int>(nlist) ||
      (ivf.offsets_size() != 0 && ivf.offsets_size() != static_cast<int>(nlist))) {
    return Status::Corruption(where + ": partition table does not match " + std::to_string(nlist) + " centroids");
  }
  lengths->assign(ivf.lengths().begin(), ivf.lengths().end());
  offsets->clear();
  uint64_t at = 0;
  for (int p = 0; p < ivf.lengths_size(); ++p) {
    offsets->push_back(ivf.offsets_size() ? ivf.offsets(p) : at);
    at += ivf.lengths(p);
  }
  return Status::OK();
}

// IVF_HNSW_*: index.idx's IVF message counts graph rows (one per node and level) and
// `lance:hnsw` holds each partition's entry point and level offsets.
Status open_graphs(const std::shared_ptr<const lance::LanceFile>& index_file, const ::lance::index::pb::IVF& ivf,
                   Segment* s) {
  LANCER_RETURN_IF_ERROR(partition_table(ivf, s->nlist, index_file->name(), &s->graph_offsets, &s->graph_lengths));
  LANCER_ASSIGN_OR_RETURN(s->graph_json, search::hnsw_partition_strings(*index_file));
  if (s->graph_json.size() != s->nlist) {
    return Status::Corruption(index_file->name() + ": lance:hnsw has " + std::to_string(s->graph_json.size()) +
                              " partitions, the IVF " + std::to_string(s->nlist));
  }
  // A graph layout this reader does not decode: search the partitions whole.
  for (uint32_t p = 0; p < s->nlist; ++p) {
    if (s->graph_lengths[p] == 0) continue;
    auto probe = search::read_hnsw_partition(*index_file, s->graph_offsets[p], s->graph_lengths[p], s->graph_json[p]);
    if (probe.ok()) {
      s->graph_file = index_file;
    } else if (probe.status().code() != StatusCode::kNotSupported) {
      return probe.status();
    }
    break;
  }
  return Status::OK();
}

// "V3": index.idx (centroids) + auxiliary.idx (row ids and storage), format notes 5.1.
Result<Segment> open_v3_segment(const std::string& dir, const std::string& name, const lance::VectorType& column) {
  Segment s;
  s.name = name;
  s.dim = column.dim;
  LANCER_ASSIGN_OR_RETURN(auto index_file,
                          lance::LanceFile::open(storage::join_path(dir, "index.idx"), name + "/index.idx"));
  LANCER_ASSIGN_OR_RETURN(s.aux,
                          lance::LanceFile::open(storage::join_path(dir, "auxiliary.idx"), name + "/auxiliary.idx"));
  auto info = nlohmann::json::parse(meta(*index_file, "lance:index"), nullptr, false);
  if (info.is_discarded() || !info.is_object() || !info.contains("type") || !info["type"].is_string() ||
      (info.contains("distance_type") && !info["distance_type"].is_string())) {
    return Status::Corruption(index_file->name() +
                              ": schema metadata lance:index is not {\"type\", \"distance_type\"}");
  }
  const std::string type = info["type"].get<std::string>();
  std::string metric = info.value("distance_type", std::string("l2"));
  std::transform(metric.begin(), metric.end(), metric.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto kind = quant::parse_index_type(type);
  if (!kind.ok() || !quant::is_implemented(*kind)) {
    return Status::NotSupported(index_file->name() + ": searching " + type + " indexes is not implemented");
  }
  s.kind = *kind;
  const auto parsed_metric = simd::parse_metric(metric);
  if (!parsed_metric) {
    return Status::NotSupported(index_file->name() + ": searching with metric " + metric + " is not implemented");
  }
  s.metric = *parsed_metric;
  LANCER_ASSIGN_OR_RETURN(auto ivf, read_ivf(*index_file));
  s.element = column.element;
  LANCER_RETURN_IF_ERROR(set_centroids(ivf, index_file->name(), &s));
  if (s.kind.sub == quant::SubIndexKind::kHnsw) LANCER_RETURN_IF_ERROR(open_graphs(index_file, ivf, &s));
  LANCER_ASSIGN_OR_RETURN(auto aux_ivf, read_ivf(*s.aux));
  LANCER_RETURN_IF_ERROR(partition_table(aux_ivf, s.nlist, s.aux->name(), &s.offsets, &s.lengths));
  // The codec from storage_metadata (and, for PQ, the codebook's global buffer).
  auto storage = nlohmann::json::parse(meta(*s.aux, "storage_metadata"), nullptr, false);
  if (storage.is_discarded() || !storage.is_array() || storage.empty() || !storage[0].is_string()) {
    return Status::Corruption(s.aux->name() + ": bad storage_metadata");
  }
  quant::StoredCodec stored_codec;
  stored_codec.where = s.aux->name();
  stored_codec.dim = column.dim;
  stored_codec.half = column.element == lance::ElementType::kFloat16;
  stored_codec.metadata = storage[0].get<std::string>();
  stored_codec.read_tensor = [&s](uint64_t position) -> Result<std::vector<float>> {
    LANCER_ASSIGN_OR_RETURN(auto bytes, s.aux->read_global_buffer(position));
    ::lance::index::pb::Tensor t;
    if (!t.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Status::Corruption(s.aux->name() + ": the tensor in global buffer " + std::to_string(position) +
                                " does not parse");
    }
    return tensor_floats(t);
  };
  LANCER_ASSIGN_OR_RETURN(s.codec, quant::codec_from_storage(s.kind.quantizer, stored_codec));
  // Columns by name (format notes 5.1: extra, carried columns may follow).
  // Fields here are flat (no structs), so field i is column i.
  const auto specs = s.codec->columns();
  std::optional<size_t> rowid_col;
  std::vector<std::optional<size_t>> spec_cols(specs.size());
  for (int i = 0; i < s.aux->schema().fields_size(); ++i) {
    const auto& f = s.aux->schema().fields(i);
    if (f.parent_id() != -1 || static_cast<size_t>(i) >= s.aux->num_columns()) continue;
    if (f.name() == "_rowid") {
      if (f.logical_type() != "uint64") return Status::Corruption(s.aux->name() + ": _rowid is " + f.logical_type());
      rowid_col = static_cast<size_t>(i);
    }
    for (size_t c = 0; c < specs.size(); ++c) {
      if (f.name() != specs[c].name) continue;
      bool matches = f.logical_type() == specs[c].logical_type();
      if (!specs[c].scalar && !matches) {  // compare the parsed type, not its spelling
        auto stored = lance::parse_vector_logical_type(f.logical_type());
        matches = stored.ok() && lance::element_type_name(stored->element) == specs[c].element &&
                  stored->dim == specs[c].width;
      }
      if (!matches) {
        return Status::Corruption(s.aux->name() + ": " + specs[c].name + " is " + f.logical_type() + ", expected " +
                                  specs[c].logical_type());
      }
      spec_cols[c] = static_cast<size_t>(i);
    }
  }
  if (!rowid_col) return Status::Corruption(s.aux->name() + ": column _rowid is not present");
  s.storage_bytes = s.codec->row_bytes();
  LANCER_ASSIGN_OR_RETURN(s.rowids, search::AuxColumn::open_u64(s.aux, *rowid_col));
  for (size_t c = 0; c < specs.size(); ++c) {
    if (!spec_cols[c]) return Status::Corruption(s.aux->name() + ": column " + specs[c].name + " is not present");
    if (specs[c].scalar) {
      if (specs[c].element != "float") {
        return Status::NotSupported(s.aux->name() + ": " + specs[c].name + " of " + specs[c].element);
      }
      LANCER_ASSIGN_OR_RETURN(auto opened, search::AuxColumn::open_f32(s.aux, *spec_cols[c]));
      s.storage.push_back(std::move(opened));
    } else {
      LANCER_ASSIGN_OR_RETURN(
          lance::VectorType stored,
          lance::parse_vector_logical_type(s.aux->schema().fields(static_cast<int>(*spec_cols[c])).logical_type()));
      LANCER_ASSIGN_OR_RETURN(auto opened, search::AuxColumn::open_fsl(s.aux, *spec_cols[c], stored));
      s.storage.push_back(std::move(opened));
    }
    if (s.storage.back().num_rows() != s.rowids->num_rows()) {
      return Status::Corruption(s.aux->name() + ": _rowid has " + std::to_string(s.rowids->num_rows()) + " rows, " +
                                specs[c].name + " " + std::to_string(s.storage.back().num_rows()));
    }
  }
  for (uint32_t p = 0; p < s.nlist; ++p) {
    if (s.offsets[p] > s.rowids->num_rows() || s.lengths[p] > s.rowids->num_rows() - s.offsets[p]) {
      return Status::Corruption(s.aux->name() + ": partition " + std::to_string(p) + " lies past the " +
                                std::to_string(s.rowids->num_rows()) + " stored rows");
    }
  }
  return s;
}

// Legacy IVF_PQ (index_file_version="Legacy"): one index.idx in the old
// container: data, then [u32 length][pb::Index] at `metadata_pos`, then the
// 16-byte trailer [i64 metadata_pos][u16 0][u16 1]["LANC"]. Partition p's
// bytes start at IVF.offsets[p]: lengths[p] PQ codes row after row, then
// lengths[p] little-endian u64 row ids.
Result<Segment> open_legacy_segment(std::shared_ptr<storage::RandomAccessFile> file, uint64_t metadata_pos,
                                    const std::string& name, const lance::VectorType& column) {
  Segment s;
  s.name = name;
  s.dim = column.dim;
  s.element = column.element;
  s.kind = {quant::SubIndexKind::kFlat, quant::QuantizerKind::kPq};
  const std::string where = name + "/index.idx (legacy)";
  const uint64_t size = file->size();
  if (metadata_pos > size - 16 || size - 16 - metadata_pos < 4) {
    return Status::Corruption(where + ": metadata position " + std::to_string(metadata_pos) + " is outside the file");
  }
  uint32_t length = 0;
  LANCER_RETURN_IF_ERROR(file->read_at(metadata_pos, 4, &length));
  if (length > size - 16 - metadata_pos - 4) {
    return Status::Corruption(where + ": the " + std::to_string(length) + "-byte index metadata overruns the file");
  }
  LANCER_ASSIGN_OR_RETURN(auto bytes, file->read_range(metadata_pos + 4, length));
  ::lance::index::pb::Index index;
  if (!index.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || !index.has_vector_index()) {
    return Status::Corruption(where + ": the index metadata is not a vector index");
  }
  const auto& vi = index.vector_index();
  if (vi.dimension() != column.dim) {
    return Status::Corruption(where + ": the index has dimension " + std::to_string(vi.dimension()) + ", the column " +
                              std::to_string(column.dim));
  }
  switch (vi.metric_type()) {
    case ::lance::index::pb::L2: s.metric = quant::Metric::kL2; break;
    case ::lance::index::pb::Cosine: s.metric = quant::Metric::kCosine; break;
    case ::lance::index::pb::Dot: s.metric = quant::Metric::kDot; break;
    default: return Status::NotSupported(where + ": metric " + std::to_string(vi.metric_type()));
  }
  const ::lance::index::pb::IVF* ivf = nullptr;
  const ::lance::index::pb::PQ* pq = nullptr;
  for (const auto& stage : vi.stages()) {
    if (stage.has_ivf() && !ivf && !pq) {
      ivf = &stage.ivf();
    } else if (stage.has_pq() && ivf && !pq) {
      pq = &stage.pq();
    } else {
      return Status::NotSupported(where +
                                  ": legacy index stages other than IVF then PQ (OPQ, DiskANN) are not "
                                  "supported");
    }
  }
  if (!ivf || !pq) return Status::NotSupported(where + ": a legacy index that is not IVF_PQ");
  LANCER_RETURN_IF_ERROR(set_centroids(*ivf, where, &s));
  if (ivf->offsets_size() != static_cast<int>(s.nlist) || ivf->lengths_size() != static_cast<int>(s.nlist)) {
    return Status::Corruption(where + ": partition table does not match " + std::to_string(s.nlist) + " centroids");
  }
  s.offsets.assign(ivf->offsets().begin(), ivf->offsets().end());
  s.lengths.assign(ivf->lengths().begin(), ivf->lengths().end());
  if (pq->dimension() != column.dim) return Status::Corruption(where + ": PQ dimension differs from the column's");
  std::vector<float> codebook = pq->has_codebook_tensor()
                                    ? tensor_floats(pq->codebook_tensor())
                                    : std::vector<float>(pq->codebook().begin(), pq->codebook().end());
  // Legacy codes are stored row after row, not transposed.
  LANCER_ASSIGN_OR_RETURN(s.codec,
                          quant::read_pq_codec(std::move(codebook), s.dim, static_cast<int>(pq->num_sub_vectors()),
                                               static_cast<int>(pq->num_bits()), false, where));
  s.storage_bytes = s.codec->row_bytes();
  for (uint32_t p = 0; p < s.nlist; ++p) {
    const uint64_t partition_bytes = s.lengths[p] * (s.storage_bytes + 8);
    if (s.offsets[p] > metadata_pos || partition_bytes > metadata_pos - s.offsets[p]) {
      return Status::Corruption(where + ": partition " + std::to_string(p) + " lies outside the data region");
    }
  }
  s.legacy = std::move(file);
  return s;
}

}  // namespace

Result<Segment> open_segment(const std::string& root, const ::lance::table::IndexMetadata& idx,
                             const lance::VectorType& column) {
  const std::string name = "_indices/" + core::uuid_to_string(idx.uuid().uuid());
  const std::string dir = storage::join_path(root, name);
  // The legacy layout has no auxiliary.idx and a 16-byte trailer with version 0.1 or 0.2.
  if (!storage::path_exists(storage::join_path(dir, "auxiliary.idx"))) {
    LANCER_ASSIGN_OR_RETURN(auto file, storage::RandomAccessFile::open(storage::join_path(dir, "index.idx")));
    if (file->size() >= 16) {
      uint8_t trailer[16];
      LANCER_RETURN_IF_ERROR(file->read_at(file->size() - 16, 16, trailer));
      uint64_t pos;
      uint16_t major, minor;
      std::memcpy(&pos, trailer, 8);
      std::memcpy(&major, trailer + 8, 2);
      std::memcpy(&minor, trailer + 10, 2);
      if (std::memcmp(trailer + 12, "LANC", 4) == 0 && major == 0 && (minor == 1 || minor == 2)) {
        return open_legacy_segment(std::move(file), pos, name, column);
      }
    }
  }
  return open_v3_segment(dir, name, column);
}

Status read_partition(Segment& s, uint32_t p, std::vector<uint64_t>* ids, std::vector<uint8_t>* storage) {
  const uint64_t n = s.lengths[p];
  ids->resize(n);
  storage->resize(n * s.storage_bytes);
  if (n == 0) return Status::OK();
  if (s.legacy) {
    LANCER_RETURN_IF_ERROR(s.legacy->read_at(s.offsets[p], storage->size(), storage->data()));
    return s.legacy->read_at(s.offsets[p] + storage->size(), n * 8, ids->data());
  }
  LANCER_RETURN_IF_ERROR(s.rowids->read(s.offsets[p], n, reinterpret_cast<uint8_t*>(ids->data())));
  if (s.storage.size() == 1) return s.storage[0].read(s.offsets[p], n, storage->data());
  // Several columns: each one's rows, then spread into whole storage rows (a spill row's layout).
  std::vector<uint8_t> column;
  size_t at = 0;
  for (AuxColumn& c : s.storage) {
    const size_t cb = c.row_bytes();
    column.resize(n * cb);
    LANCER_RETURN_IF_ERROR(c.read(s.offsets[p], n, column.data()));
    for (uint64_t i = 0; i < n; ++i)
      std::memcpy(storage->data() + i * s.storage_bytes + at, column.data() + i * cb, cb);
    at += cb;
  }
  return Status::OK();
}

Result<graph::HnswGraph> read_partition_graph(const Segment& s, uint32_t p) {
  if (!s.graph_file) return Status::NotSupported(s.name + ": no readable graph");
  auto g = search::read_hnsw_partition(*s.graph_file, s.graph_offsets[p], s.graph_lengths[p], s.graph_json[p]);
  if (g.ok() && g->num_nodes != s.lengths[p]) {
    return Status::Corruption(s.name + "/index.idx: partition " + std::to_string(p) + "'s graph has " +
                              std::to_string(g->num_nodes) + " nodes, auxiliary.idx " + std::to_string(s.lengths[p]) +
                              " rows");
  }
  return g;
}

}  // namespace lancer::search
