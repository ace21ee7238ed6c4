// The JSON description of a dataset version shared by `lancer inspect --json`
// and the Python package's lancer.inspect().
#include "dataset/describe.h"

namespace lancer::dataset {

Result<nlohmann::ordered_json> describe(const dataset::Dataset& ds) {
  nlohmann::ordered_json out;
  const auto& m = ds.manifest();
  out["uri"] = ds.root();
  out["version"] = ds.version();
  out["versions"] = ds.versions().versions;
  out["manifest_naming"] = ds.versions().naming == lance::ManifestNaming::kV1 ? "v1" : "v2";
  out["data_storage_version"] = ds.data_storage_version();
  out["reader_feature_flags"] = m.reader_feature_flags();
  out["writer_feature_flags"] = m.writer_feature_flags();
  out["stable_row_ids"] = ds.has_stable_row_ids();
  out["writer"] = m.writer_version().library() + " " + m.writer_version().version();
  auto& schema = out["schema"] = nlohmann::ordered_json::array();
  for (const auto& f : ds.fields()) {
    schema.push_back({{"id", f.id}, {"parent_id", f.parent_id}, {"name", f.name}, {"path", f.path},
                      {"logical_type", f.logical_type}, {"nullable", f.nullable}});
  }
  auto& frags = out["fragments"] = nlohmann::ordered_json::array();
  uint64_t rows = 0, deleted = 0;
  for (const auto& f : ds.fragments()) {
    nlohmann::ordered_json files = nlohmann::ordered_json::array();
    for (const auto& file : f.files) {
      files.push_back({{"path", file.path}, {"fields", file.fields}, {"column_indices", file.column_indices},
                       {"file_version", file.version.to_string()}, {"size_bytes", file.size_bytes}});
    }
    frags.push_back({{"id", f.id}, {"physical_rows", f.physical_rows}, {"deleted_rows", f.deleted_rows},
                     {"files", files}});
    rows += f.physical_rows;
    deleted += f.deleted_rows;
  }
  out["physical_rows"] = rows;
  out["deleted_rows"] = deleted;
  LANCER_ASSIGN_OR_RETURN(auto indices, ds.indices());
  auto& idx = out["indices"] = nlohmann::ordered_json::array();
  for (const auto& i : indices) {
    idx.push_back({{"name", i.name}, {"type", i.type}, {"uuid", i.uuid}, {"metric", i.metric},
                   {"fields", i.fields}, {"fragment_ids", i.fragment_ids}, {"dataset_version", i.dataset_version},
                   {"index_version", i.index_version}});
  }
  return out;
}

}  // namespace lancer::dataset
