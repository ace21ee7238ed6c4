#include "ivf/hnsw_index_file.h"

#include "quant/codec.h"

namespace lancer::ivf {

Result<std::unique_ptr<HnswIndexFileWriter>> HnswIndexFileWriter::create(const std::string& path,
                                                                         std::shared_ptr<const IndexModel> model,
                                                                         const graph::HnswParams& params,
                                                                         size_t page_bytes) {
  LANCER_RETURN_IF_ERROR(model->validate());
  LANCER_RETURN_IF_ERROR(graph::check_hnsw_params(params));
  if (model->kind.sub != quant::SubIndexKind::kHnsw) {
    return Status::InvalidArgument(quant::index_type_name(model->kind) + " has no HNSW graph");
  }
  auto w = std::unique_ptr<HnswIndexFileWriter>(new HnswIndexFileWriter());
  LANCER_ASSIGN_OR_RETURN(w->writer_, lance::LanceFileWriter::create(path, 5));
  w->lengths_.assign(model->num_partitions, 0);
  w->partition_json_.assign(model->num_partitions, "");
  w->params_ = params;
  w->page_bytes_ = page_bytes;
  w->model_ = std::move(model);
  return w;
}

Status HnswIndexFileWriter::write_partition(uint32_t partition, const graph::HnswGraph& g) {
  if (partition < next_partition_ || partition >= model_->num_partitions) {
    return Status::Internal("partition " + std::to_string(partition) + " written out of order");
  }
  next_partition_ = partition + 1;
  if (g.num_nodes == 0) return Status::OK();
  if (g.levels.empty() || g.levels[0].nodes.size() != g.num_nodes || g.levels.size() > params_.max_level) {
    return Status::Internal("partition " + std::to_string(partition) + ": malformed HNSW graph");
  }
  for (const auto& level : g.levels) {
    for (size_t r = 0; r < level.nodes.size(); ++r) {
      ids_.push_back(level.nodes[r]);
      const uint64_t begin = level.offsets[r], end = level.offsets[r + 1];
      neighbors_.insert(neighbors_.end(), level.neighbors.begin() + begin, level.neighbors.begin() + end);
      distances_.insert(distances_.end(), level.distances.begin() + begin, level.distances.begin() + end);
      ends_.push_back(neighbors_.size());
      if (neighbors_.size() * 4 >= page_bytes_) LANCER_RETURN_IF_ERROR(flush_pages());
    }
  }
  lengths_[partition] = g.num_rows();
  rows_ += g.num_rows();
  partition_json_[partition] = graph::hnsw_partition_json(g, params_);
  return Status::OK();
}

Status HnswIndexFileWriter::flush_pages() {
  if (ids_.empty()) return Status::OK();
  const uint64_t rows = ids_.size(), items = neighbors_.size();
  LANCER_RETURN_IF_ERROR(writer_->append_flat_page(0, rows, 32, 0, ids_.data(), rows * 4));
  LANCER_RETURN_IF_ERROR(writer_->append_list_page(1, rows, ends_.data()));
  LANCER_RETURN_IF_ERROR(writer_->append_list_page(3, rows, ends_.data()));
  // A page of only empty lists has no item page; the reader counts items by num_items.
  if (items > 0) {
    LANCER_RETURN_IF_ERROR(writer_->append_flat_page(2, items, 32, 0, neighbors_.data(), items * 4));
    LANCER_RETURN_IF_ERROR(writer_->append_flat_page(4, items, 32, 0, distances_.data(), items * 4));
  }
  ids_.clear();
  ends_.clear();
  neighbors_.clear();
  distances_.clear();
  return Status::OK();
}

Result<uint64_t> HnswIndexFileWriter::finish() {
  LANCER_RETURN_IF_ERROR(flush_pages());
  const std::string ivf_bytes = index_ivf_buffer(*model_, lengths_);
  LANCER_ASSIGN_OR_RETURN(uint32_t ivf_index, writer_->add_global_buffer(ivf_bytes.data(), ivf_bytes.size()));
  ::lance::file::Schema schema;
  *schema.add_fields() = lance::make_field(0, "__vector_id", "uint32", true);
  for (auto& f : lance::make_list_fields(1, "__neighbors", "uint32")) *schema.add_fields() = f;
  for (auto& f : lance::make_list_fields(3, "_distance", "float")) *schema.add_fields() = f;
  auto& metadata = *schema.mutable_metadata();
  metadata["lance:index"] = "{\"type\":\"" + quant::index_type_name(model_->kind) + "\",\"distance_type\":\"" +
                            simd::metric_name(model_->metric) + "\"}";
  metadata["lance:ivf"] = std::to_string(ivf_index);
  std::string list = "[";
  for (size_t p = 0; p < partition_json_.size(); ++p) {
    list += (p ? "," : "") + quant::json_string(partition_json_[p]);
  }
  metadata["lance:hnsw"] = list + "]";
  return writer_->finish(schema, rows_);
}

}  // namespace lancer::ivf
