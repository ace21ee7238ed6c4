#include "pipeline/commit_index.h"

#include <chrono>
#include <string>

#include <google/protobuf/descriptor.h>

#include "core/uuid.h"
#include "index.pb.h"
#include "lance/roaring.h"
#include "quant/registry.h"

namespace lancer::pipeline {

namespace {

// The quantizer's part comes from its registry entry, set through protobuf
// reflection so that no per-kind switch lives here.
Result<::lance::index::pb::VectorIndexDetails> index_details(const ivf::IndexModel& m,
                                                             const std::optional<graph::HnswParams>& hnsw) {
  ::lance::index::pb::VectorIndexDetails d;
  if (hnsw) {  // without it Lance lists an HNSW index as IVF_<Q> (lance-hnsw-rq-format.md 1)
    auto* h = d.mutable_hnsw_index_config();
    h->set_max_connections(hnsw->m);
    h->set_construction_ef(hnsw->ef_construction);
    h->set_max_level(hnsw->max_level);
  }
  using D = ::lance::index::pb::VectorIndexDetails;
  d.set_metric_type(m.metric == simd::Metric::kCosine ? D::Cosine : m.metric == simd::Metric::kDot ? D::Dot : D::L2);
  const quant::QuantizerEntry& q = quant::quantizer(m.kind.quantizer);
  const quant::LanceCompression c = q.lance_compression(*m.codec);
  const auto* field = D::descriptor()->FindFieldByName(c.field ? c.field : "");
  if (field == nullptr || field->containing_oneof() == nullptr ||
      field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
    return Status::Internal(std::string("VectorIndexDetails has no compression field \"") + (c.field ? c.field : "") +
                            "\" for " + q.name);
  }
  google::protobuf::Message* part = d.GetReflection()->MutableMessage(&d, field);
  for (const auto& [name, value] : c.params) {
    const auto* f = part->GetDescriptor()->FindFieldByName(name);
    if (f == nullptr || f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT32) {
      return Status::Internal(std::string("VectorIndexDetails.") + c.field + " has no uint32 field \"" + name + "\"");
    }
    part->GetReflection()->SetUInt32(part, f, value);
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
  LANCER_ASSIGN_OR_RETURN(const auto details, index_details(model, files.hnsw));
  idx.mutable_index_details()->set_value(details.SerializeAsString());
  idx.set_index_version(quant::quantizer(model.kind.quantizer).index_version);
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
