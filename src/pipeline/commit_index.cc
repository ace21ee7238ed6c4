#include "pipeline/commit_index.h"

#include <chrono>

#include "core/uuid.h"
#include "index.pb.h"
#include "lance/roaring.h"
#include "quant/pq_codec.h"

namespace lancer::pipeline {

namespace {

::lance::index::pb::VectorIndexDetails index_details(const ivf::IndexModel& m) {
  ::lance::index::pb::VectorIndexDetails d;
  using D = ::lance::index::pb::VectorIndexDetails;
  d.set_metric_type(m.metric == simd::Metric::kCosine ? D::Cosine : m.metric == simd::Metric::kDot ? D::Dot : D::L2);
  switch (m.kind.quantizer) {
    case quant::QuantizerKind::kFlat: d.mutable_flat(); break;
    case quant::QuantizerKind::kSq: d.mutable_sq()->set_num_bits(8); break;
    case quant::QuantizerKind::kPq:
      d.mutable_pq()->set_num_bits(static_cast<uint32_t>(quant::pq_model(*m.codec)->num_bits));
      d.mutable_pq()->set_num_sub_vectors(static_cast<uint32_t>(quant::pq_model(*m.codec)->num_sub_vectors));
      break;
  }
  return d;
}

}  // namespace

Result<::lance::table::IndexMetadata> segment_metadata(const SegmentFiles& files, const ivf::IndexModel& model,
                                                       int32_t field_id, const std::string& name,
                                                       uint64_t dataset_version, uint64_t created_at,
                                                       const std::string& staging) {
  ::lance::table::IndexMetadata idx;
  const std::string uuid_bytes = core::uuid_from_string(files.uuid);
  if (uuid_bytes.empty()) return Status::Corruption(staging + "/build.json: bad uuid " + files.uuid);
  idx.mutable_uuid()->set_uuid(uuid_bytes);
  idx.add_fields(field_id);
  idx.set_name(name);
  idx.set_dataset_version(dataset_version);
  idx.set_fragment_bitmap(lance::roaring_encode(files.fragment_ids));
  idx.mutable_index_details()->set_type_url("/lance.index.pb.VectorIndexDetails");
  idx.mutable_index_details()->set_value(index_details(model).SerializeAsString());
  idx.set_index_version(1);
  idx.set_created_at(created_at);
  auto* f1 = idx.add_files();
  f1->set_path("auxiliary.idx");
  f1->set_size_bytes(files.aux_bytes);
  auto* f2 = idx.add_files();
  f2->set_path("index.idx");
  f2->set_size_bytes(files.index_bytes);
  return idx;
}

uint64_t created_at_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace lancer::pipeline
