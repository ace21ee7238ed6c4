#include "ivf/index_files.h"
#include "lance/deterministic.h"

#include <charconv>

#include "core/half.h"
#include "index.pb.h"

namespace lancer::ivf {

namespace {

// Lance emits a page about every 8 MiB per column; so do we.
constexpr size_t kPageBytes = 8u << 20;

std::string json_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round trip, as serde does
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string storage_metadata(const IndexModel& m) {
  std::string inner;
  switch (m.type) {
    case IndexType::kFlat: inner = "{\"dim\":" + std::to_string(m.column.dim) + "}"; break;
    case IndexType::kSq:
      inner = "{\"dim\":" + std::to_string(m.column.dim) + ",\"num_bits\":8,\"bounds\":{\"start\":" +
              json_double(m.sq->start) + ",\"end\":" + json_double(m.sq->end) + "}}";
      break;
    case IndexType::kPq:
      inner = "{\"codebook_position\":2,\"nbits\":" + std::to_string(m.pq->num_bits) +
              ",\"num_sub_vectors\":" + std::to_string(m.pq->num_sub_vectors) +
              ",\"dimension\":" + std::to_string(m.column.dim) + ",\"codebook_tensor\":[],\"transposed\":true}";
      break;
  }
  return "[" + json_string(inner) + "]";
}

// Centroids and codebooks are stored in the column's element type (format notes 5.2).
::lance::index::pb::Tensor make_tensor(const std::vector<float>& data, std::vector<uint32_t> shape,
                                       lance::ElementType element) {
  ::lance::index::pb::Tensor t;
  for (uint32_t s : shape) t.add_shape(s);
  if (element == lance::ElementType::kFloat16) {
    t.set_data_type(::lance::index::pb::Tensor::FLOAT16);
    std::vector<uint16_t> halves(data.size());
    for (size_t i = 0; i < data.size(); ++i) halves[i] = core::float_to_half(data[i]);
    t.set_data(reinterpret_cast<const char*>(halves.data()), halves.size() * sizeof(uint16_t));
  } else {
    t.set_data_type(::lance::index::pb::Tensor::FLOAT32);
    t.set_data(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  }
  return t;
}

void set_metadata(::lance::file::Schema* schema, const std::string& key, const std::string& value) {
  (*schema->mutable_metadata())[key] = value;
}

}  // namespace

const char* index_type_name(IndexType type) {
  switch (type) {
    case IndexType::kFlat: return "IVF_FLAT";
    case IndexType::kSq: return "IVF_SQ";
    case IndexType::kPq: return "IVF_PQ";
  }
  return "?";
}

size_t IndexModel::storage_row_bytes() const {
  switch (type) {
    case IndexType::kFlat: return column.row_bytes();
    case IndexType::kSq: return column.dim;
    case IndexType::kPq: return static_cast<size_t>(pq->code_size());
  }
  return 0;
}

Status IndexModel::validate() const {
  if (column.element == lance::ElementType::kUInt8) {
    return Status::NotSupported("indexing uint8 vectors is not implemented yet (float32 and float16 only)");
  }
  if (num_partitions == 0 || centroids.size() != size_t{num_partitions} * column.dim) {
    return Status::InvalidArgument("centroids do not match " + std::to_string(num_partitions) + " partitions of " +
                                   std::to_string(column.dim) + " dimensions");
  }
  if (type == IndexType::kPq && (!pq || pq->dim != static_cast<int>(column.dim))) {
    return Status::InvalidArgument("IVF_PQ needs a PQ codebook of the column's dimension");
  }
  if (type == IndexType::kSq && (!sq || sq->dim != static_cast<int>(column.dim))) {
    return Status::InvalidArgument("IVF_SQ needs SQ bounds of the column's dimension");
  }
  return Status::OK();
}

Result<uint64_t> write_index_file(const std::string& path, const IndexModel& model) {
  LANCER_RETURN_IF_ERROR(model.validate());
  LANCER_ASSIGN_OR_RETURN(auto writer, lance::LanceFileWriter::create(path, 1));
  ::lance::index::pb::IVF ivf;
  for (uint32_t p = 0; p < model.num_partitions; ++p) {
    ivf.add_offsets(0);
    ivf.add_lengths(0);
  }
  *ivf.mutable_centroids_tensor() =
      make_tensor(model.centroids, {model.num_partitions, model.column.dim}, model.column.element);
  ivf.set_loss(model.loss);
  const std::string ivf_bytes = lance::serialize_deterministic(ivf);
  LANCER_ASSIGN_OR_RETURN(uint32_t ivf_index, writer->add_global_buffer(ivf_bytes.data(), ivf_bytes.size()));
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "__flat_marker", "uint64", false);
  set_metadata(&schema, "lance:index",
               std::string("{\"type\":\"") + index_type_name(model.type) + "\",\"distance_type\":\"" +
                   simd::metric_name(model.metric) + "\"}");
  set_metadata(&schema, "lance:ivf", std::to_string(ivf_index));
  std::string flat = "[";
  for (uint32_t p = 0; p < model.num_partitions; ++p) flat += p ? ",\"\"" : "\"\"";
  set_metadata(&schema, "lance:flat", flat + "]");
  return writer->finish(schema, 0);
}

Result<std::unique_ptr<AuxiliaryFileWriter>> AuxiliaryFileWriter::create(const std::string& path,
                                                                          std::shared_ptr<const IndexModel> model) {
  LANCER_RETURN_IF_ERROR(model->validate());
  auto w = std::unique_ptr<AuxiliaryFileWriter>(new AuxiliaryFileWriter());
  LANCER_ASSIGN_OR_RETURN(w->writer_, lance::LanceFileWriter::create(path, 2));
  w->lengths_.assign(model->num_partitions, 0);
  w->model_ = std::move(model);
  return w;
}

Status AuxiliaryFileWriter::write_partition(uint32_t partition, const uint64_t* row_ids, const uint8_t* storage,
                                            size_t n) {
  if (partition < next_partition_ || partition >= model_->num_partitions) {
    return Status::Internal("partition " + std::to_string(partition) + " written out of order");
  }
  next_partition_ = partition + 1;
  lengths_[partition] = n;
  rows_ += n;
  const size_t rb = model_->storage_row_bytes();
  pending_ids_.insert(pending_ids_.end(), row_ids, row_ids + n);
  if (model_->type == IndexType::kPq) {
    // Byte b of row i goes to b * n + i within the partition.
    transposed_.resize(n * rb);
    for (size_t i = 0; i < n; ++i) {
      for (size_t b = 0; b < rb; ++b) transposed_[b * n + i] = storage[i * rb + b];
    }
    storage = transposed_.data();
  }
  pending_storage_.insert(pending_storage_.end(), storage, storage + n * rb);
  if (pending_storage_.size() >= kPageBytes || pending_ids_.size() * 8 >= kPageBytes) return flush_pages();
  return Status::OK();
}

Status AuxiliaryFileWriter::flush_pages() {
  if (pending_ids_.empty()) return Status::OK();
  const uint64_t n = pending_ids_.size();
  LANCER_RETURN_IF_ERROR(writer_->append_flat_page(0, n, 64, 0, pending_ids_.data(), n * 8));
  const bool flat = model_->type == IndexType::kFlat;
  const uint32_t bits = flat ? static_cast<uint32_t>(lance::element_size(model_->column.element) * 8) : 8;
  const uint32_t dim = static_cast<uint32_t>(flat ? model_->column.dim : model_->storage_row_bytes());
  LANCER_RETURN_IF_ERROR(
      writer_->append_flat_page(1, n, bits, dim, pending_storage_.data(), pending_storage_.size()));
  pending_ids_.clear();
  pending_storage_.clear();
  return Status::OK();
}

Result<uint64_t> AuxiliaryFileWriter::finish() {
  LANCER_RETURN_IF_ERROR(flush_pages());
  const IndexModel& m = *model_;
  ::lance::index::pb::IVF ivf;
  uint64_t offset = 0;
  for (uint64_t len : lengths_) {
    ivf.add_offsets(offset);
    ivf.add_lengths(static_cast<uint32_t>(len));
    offset += len;
  }
  const std::string ivf_bytes = lance::serialize_deterministic(ivf);
  LANCER_ASSIGN_OR_RETURN(uint32_t ivf_index, writer_->add_global_buffer(ivf_bytes.data(), ivf_bytes.size()));
  if (m.type == IndexType::kPq) {
    const auto codebook =
        make_tensor(m.pq->codebook, {static_cast<uint32_t>(m.pq->num_codewords()), m.column.dim}, m.column.element);
    const std::string bytes = lance::serialize_deterministic(codebook);
    LANCER_ASSIGN_OR_RETURN(uint32_t position, writer_->add_global_buffer(bytes.data(), bytes.size()));
    if (position != 2) return Status::Internal("PQ codebook landed at global buffer " + std::to_string(position));
  }
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "_rowid", "uint64", true);
  const std::string storage_type = "fixed_size_list:" +
                                   std::string(m.type == IndexType::kFlat ? lance::element_type_name(m.column.element)
                                                                          : "uint8") +
                                   ":" + std::to_string(m.type == IndexType::kFlat ? m.column.dim : m.storage_row_bytes());
  const char* storage_name = m.type == IndexType::kFlat ? "flat" : m.type == IndexType::kSq ? "__sq_code" : "__pq_code";
  *schema.add_fields() = lance::make_field(1, storage_name, storage_type, m.type != IndexType::kFlat);
  set_metadata(&schema, "distance_type", simd::metric_name(m.metric));
  set_metadata(&schema, "lance:ivf", std::to_string(ivf_index));
  set_metadata(&schema, "storage_metadata", storage_metadata(m));
  return writer_->finish(schema, rows_);
}

}  // namespace lancer::ivf
