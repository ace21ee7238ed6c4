#include "ivf/index_files.h"
#include "lance/deterministic.h"

#include "core/half.h"
#include "index.pb.h"

namespace lancer::ivf {

namespace {

// Lance emits a page about every 8 MiB per column; so do we.
constexpr size_t kPageBytes = 8u << 20;

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

Status IndexModel::validate() const {
  if (column.element == lance::ElementType::kUInt8) {
    return Status::NotSupported("indexing uint8 vectors is not implemented yet (float32 and float16 only)");
  }
  if (num_partitions == 0 || centroids.size() != size_t{num_partitions} * column.dim) {
    return Status::InvalidArgument("centroids do not match " + std::to_string(num_partitions) + " partitions of " +
                                   std::to_string(column.dim) + " dimensions");
  }
  if (!codec || codec->kind() != kind.quantizer || codec->dim() != column.dim) {
    return Status::InvalidArgument(quant::index_type_name(kind) + " needs a " + quant::quantizer_name(kind.quantizer) +
                                   " model of the column's dimension");
  }
  return Status::OK();
}

std::string index_ivf_buffer(const IndexModel& model, const std::vector<uint64_t>& lengths) {
  ::lance::index::pb::IVF ivf;
  uint64_t offset = 0;
  for (uint32_t p = 0; p < model.num_partitions; ++p) {
    const uint64_t length = p < lengths.size() ? lengths[p] : 0;
    ivf.add_offsets(offset);
    ivf.add_lengths(static_cast<uint32_t>(length));
    offset += length;
  }
  *ivf.mutable_centroids_tensor() =
      make_tensor(model.centroids, {model.num_partitions, model.column.dim}, model.column.element);
  ivf.set_loss(model.loss);
  return lance::serialize_deterministic(ivf);
}

Result<uint64_t> write_index_file(const std::string& path, const IndexModel& model) {
  LANCER_RETURN_IF_ERROR(model.validate());
  LANCER_ASSIGN_OR_RETURN(auto writer, lance::LanceFileWriter::create(path, 1));
  const std::string ivf_bytes = index_ivf_buffer(model, {});
  LANCER_ASSIGN_OR_RETURN(uint32_t ivf_index, writer->add_global_buffer(ivf_bytes.data(), ivf_bytes.size()));
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "__flat_marker", "uint64", false);
  set_metadata(&schema, "lance:index",
               "{\"type\":\"" + quant::index_type_name(model.kind) + "\",\"distance_type\":\"" +
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
  const auto columns = model->codec->columns();
  LANCER_ASSIGN_OR_RETURN(w->writer_, lance::LanceFileWriter::create(path, 1 + columns.size()));
  w->writer_->forget_written();  // the build never reads it back: the cache keeps what it reads
  w->lengths_.assign(model->num_partitions, 0);
  w->pending_columns_.resize(columns.size());
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
  const auto columns = model_->codec->columns();
  size_t at = 0;  // the column's first byte within a row
  bool full = pending_ids_.size() * 8 >= kPageBytes;
  for (size_t c = 0; c < columns.size(); ++c) {
    const size_t cb = columns[c].row_bytes();
    core::ByteBuffer& out = pending_columns_[c];
    const size_t base = out.size();
    out.resize(base + n * cb);
    uint8_t* dst = out.data() + base;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* src = storage + i * rb + at;
      if (columns[c].transposed) {
        for (size_t b = 0; b < cb; ++b) dst[b * n + i] = src[b];  // byte b of row i at b * n + i
      } else {
        std::copy(src, src + cb, dst + i * cb);
      }
    }
    at += cb;
    full = full || out.size() >= kPageBytes;
  }
  return full ? flush_pages() : Status::OK();
}

Status AuxiliaryFileWriter::flush_pages() {
  if (pending_ids_.empty()) return Status::OK();
  const uint64_t n = pending_ids_.size();
  LANCER_RETURN_IF_ERROR(writer_->append_flat_page(0, n, 64, 0, pending_ids_.data(), n * 8));
  const auto columns = model_->codec->columns();
  for (size_t c = 0; c < columns.size(); ++c) {
    auto& bytes = pending_columns_[c];
    LANCER_RETURN_IF_ERROR(writer_->append_flat_page(static_cast<uint32_t>(1 + c), n, columns[c].element_bits,
                                                     columns[c].scalar ? 0 : columns[c].width, bytes.data(),
                                                     bytes.size()));
    bytes.clear();
  }
  pending_ids_.clear();
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
  for (const auto& buffer : m.codec->global_buffers()) {
    const std::string bytes =
        lance::serialize_deterministic(make_tensor(*buffer.values, buffer.shape, m.column.element));
    LANCER_ASSIGN_OR_RETURN(uint32_t position, writer_->add_global_buffer(bytes.data(), bytes.size()));
    if (position != buffer.position) {
      return Status::Internal(std::string(quant::quantizer_name(m.kind.quantizer)) + " global buffer landed at " +
                              std::to_string(position) + ", not " + std::to_string(buffer.position));
    }
  }
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "_rowid", "uint64", true);
  const auto columns = m.codec->columns();
  for (size_t c = 0; c < columns.size(); ++c) {
    const auto& col = columns[c];
    *schema.add_fields() = lance::make_field(static_cast<int32_t>(1 + c), col.name, col.logical_type(), col.nullable);
  }
  set_metadata(&schema, "distance_type", simd::metric_name(m.metric));
  set_metadata(&schema, "lance:ivf", std::to_string(ivf_index));
  set_metadata(&schema, "storage_metadata", "[" + quant::json_string(m.codec->storage_metadata()) + "]");
  return writer_->finish(schema, rows_);
}

}  // namespace lancer::ivf
