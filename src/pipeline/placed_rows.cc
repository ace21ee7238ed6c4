#include "pipeline/placed_rows.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "dataset/take.h"
#include "linalg/norms.h"
#include "simd/convert.h"

namespace lancer::pipeline {

namespace {

// Rows of one partition this close together are read with one read (dense selections: few
// partitions, or small fragments).
constexpr size_t kGapBytes = 4096;
constexpr size_t kChunkBytes = size_t{8} << 20;

}  // namespace

Result<std::unique_ptr<PlacedRows>> PlacedRows::open(std::shared_ptr<const dataset::Dataset> dataset,
                                                     const dataset::VectorColumn& column,
                                                     const std::vector<uint64_t>& fragment_ids,
                                                     std::shared_ptr<const ivf::IndexModel> model,
                                                     const TaskLabels& labels) {
  auto r = std::unique_ptr<PlacedRows>(new PlacedRows());
  const auto all = labels.labels();
  if (all.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::NotSupported("a task of more than 2^32 rows has no labels file");
  }
  uint64_t first = 0;
  for (uint64_t id : fragment_ids) {
    const auto index = dataset->fragment_index(id);
    if (!index)
      return Status::Corruption("fragment " + std::to_string(id) + " of the build's plan is not in the dataset");
    const dataset::Fragment frag(*dataset, *index);
    Fragment f;
    f.first = first;
    f.id = id;
    LANCER_ASSIGN_OR_RETURN(f.location, frag.locate(column));
    LANCER_ASSIGN_OR_RETURN(f.stable_ids, frag.stable_row_ids());
    first += frag.physical_rows();
    r->fragment_firsts_.push_back(f.first);
    r->fragments_.push_back(std::move(f));
  }
  r->fragment_firsts_.push_back(first);
  if (first != all.size()) {
    return Status::Corruption("labels of " + std::to_string(all.size()) + " rows for fragments of " +
                              std::to_string(first));
  }
  // A counting sort by partition, stable: each partition's rows in the task's stream order.
  const uint32_t parts = model->num_partitions;
  r->starts_.assign(uint64_t{parts} + 1, 0);
  for (uint32_t l : all) {
    if (l != TaskLabels::kNotIndexed) ++r->starts_[l + 1];
  }
  for (uint32_t p = 0; p < parts; ++p) r->starts_[p + 1] += r->starts_[p];
  r->order_.resize(r->starts_[parts]);
  std::vector<uint64_t> next(r->starts_.begin(), r->starts_.end() - 1);
  for (size_t pos = 0; pos < all.size(); ++pos) {
    if (all[pos] != TaskLabels::kNotIndexed) r->order_[next[all[pos]]++] = static_cast<uint32_t>(pos);
  }
  // FLAT without normalising stores the vectors as the column holds them (float16 -> float32 ->
  // float16 is exact for finite values): read straight into place.
  r->stored_as_read_ = model->kind.quantizer == quant::QuantizerKind::kFlat &&
                       model->metric != quant::Metric::kCosine && model->storage_row_bytes() == column.type.row_bytes();
  r->dataset_ = std::move(dataset);
  r->column_ = column;
  r->model_ = std::move(model);
  return r;
}

Status PlacedRows::read_partition(uint32_t partition, uint64_t* ids, uint8_t* storage) const {
  const size_t dim = column_.type.dim, rb = column_.type.row_bytes(), srb = model_->storage_row_bytes();
  thread_local core::UninitVector<uint8_t> values, valid, scratch;
  thread_local std::vector<uint32_t> offsets, labels;
  thread_local std::vector<float> f32;
  core::InlineExecutor inline_executor;
  const uint64_t end = starts_[partition + 1];
  const uint64_t chunk_rows = std::max<uint64_t>(1, kChunkBytes / (rb + dim * 4));  // bounds the scratch buffers
  for (uint64_t i = starts_[partition]; i < end;) {
    // The partition's next rows in one fragment.
    const auto f =
        static_cast<size_t>(std::upper_bound(fragment_firsts_.begin(), fragment_firsts_.end(), uint64_t{order_[i]}) -
                            fragment_firsts_.begin() - 1);
    const Fragment& frag = fragments_[f];
    uint64_t j = i;
    offsets.clear();
    while (j < end && j - i < chunk_rows && order_[j] < fragment_firsts_[f + 1]) {
      offsets.push_back(static_cast<uint32_t>(order_[j++] - frag.first));
    }
    const size_t n = offsets.size();
    uint8_t* out = storage + (i - starts_[partition]) * srb;
    uint64_t* out_ids = ids + (i - starts_[partition]);
    // Where the column's bytes go: into place, as float32 to be encoded, or to be converted first.
    const bool f32_column = column_.type.element == lance::ElementType::kFloat32;
    uint8_t* read_to = out;
    if (!stored_as_read_ && f32_column) {
      f32.resize(n * dim);
      read_to = reinterpret_cast<uint8_t*>(f32.data());
    } else if (!stored_as_read_) {
      values.resize(n * rb);
      read_to = values.data();
    }
    valid.resize(n);
    LANCER_RETURN_IF_ERROR(
        dataset::take_located_rows(frag.location, column_, offsets, kGapBytes / rb, read_to, valid.data(), &scratch));
    for (size_t k = 0; k < n; ++k) {
      if (!valid[k]) {
        return Status::Corruption(frag.location.where + ": row " + std::to_string(offsets[k]) +
                                  ", labelled by the encode task, is null now");
      }
      out_ids[k] = dataset::row_id(frag.id, frag.stable_ids, offsets[k]);
    }
    if (!stored_as_read_) {
      // As the encode task did: float32, normalised for cosine, encoded with the same partition.
      if (!f32_column) simd::to_float32(values.data(), n * dim, column_.type.element, &f32);
      linalg::MatrixView<float> x(f32.data(), n, dim);
      if (model_->metric == quant::Metric::kCosine) linalg::normalize_rows(x, inline_executor);
      labels.assign(n, partition);
      LANCER_RETURN_IF_ERROR(model_->codec->encode(linalg::MatrixView<const float>(x), labels, model_->centroids.data(),
                                                   model_->metric, std::span<uint8_t>(out, n * srb), inline_executor));
    }
    i = j;
  }
  return Status::OK();
}

}  // namespace lancer::pipeline
