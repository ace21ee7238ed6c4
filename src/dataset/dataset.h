// A Lance dataset pinned at one version: schema, fragments and index list,
// read from its manifest. Immutable after open; share as shared_ptr<const>.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lance/file_reader.h"
#include "lance/manifest.h"
#include "lance/vector_page.h"
#include "lancer/status.h"

namespace lancer::dataset {

struct FieldInfo {
  int32_t id = 0;
  int32_t parent_id = -1;
  std::string name;
  std::string path;  // dotted from the top level: "meta.vector"
  std::string logical_type;
  bool nullable = true;
};

struct DataFileInfo {
  std::string path;  // relative to <root>/data/
  std::vector<int32_t> fields;
  std::vector<int32_t> column_indices;
  lance::FileVersion version;  // as the manifest records it
  uint64_t size_bytes = 0;     // 0 = unknown
};

struct FragmentInfo {
  uint64_t id = 0;
  uint64_t physical_rows = 0;
  uint64_t deleted_rows = 0;
  std::vector<DataFileInfo> files;
};

struct IndexInfo {
  std::string name;
  std::string type;  // "IVF_PQ", "IVF_FLAT", ... or the details message name for other indexes
  std::string uuid;  // hyphenated
  std::string metric;
  std::vector<int32_t> fields;
  std::vector<uint32_t> fragment_ids;
  uint64_t dataset_version = 0;
  int32_t index_version = 0;
};

struct VectorColumn {
  int32_t field_id = 0;
  std::string path;
  lance::VectorType type;
};

class Dataset {
 public:
  // Opens `uri` (a local or shared-filesystem folder) at `version`, or the latest.
  static Result<std::shared_ptr<const Dataset>> open(const std::string& uri,
                                                     std::optional<uint64_t> version = std::nullopt);

  const std::string& root() const { return root_; }
  uint64_t version() const { return manifest_.manifest.version(); }
  const lance::VersionListing& versions() const { return versions_; }
  const ::lance::table::Manifest& manifest() const { return manifest_.manifest; }
  const lance::ManifestFile& manifest_file() const { return manifest_; }
  const std::vector<FieldInfo>& fields() const { return fields_; }
  const std::vector<FragmentInfo>& fragments() const { return fragments_; }
  // Where the fragment with this id is in fragments(), if it is in this version.
  std::optional<size_t> fragment_index(uint64_t id) const;
  const ::lance::table::DataFragment& fragment_proto(size_t i) const {
    return manifest_.manifest.fragments(static_cast<int>(i));
  }
  bool has_stable_row_ids() const;
  std::string data_storage_version() const { return manifest_.manifest.data_format().version(); }

  Result<std::vector<IndexInfo>> indices() const;
  // The index section's entries as stored (empty without an index section).
  const google::protobuf::RepeatedPtrField<::lance::table::IndexMetadata>& raw_indices() const;
  // Resolves a top-level name or a dotted path to a vector field.
  Result<VectorColumn> vector_column(const std::string& path) const;

 private:
  Dataset() = default;
  Status load(const std::string& uri, std::optional<uint64_t> version);

  std::string root_;
  lance::VersionListing versions_;
  lance::ManifestFile manifest_;
  std::vector<FieldInfo> fields_;
  std::vector<FragmentInfo> fragments_;
};

}  // namespace lancer::dataset
