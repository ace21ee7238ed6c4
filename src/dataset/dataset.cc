#include "dataset/dataset.h"

#include <map>

#include "core/uuid.h"
#include "index.pb.h"
#include "lance/feature_flags.h"
#include "lance/roaring.h"
#include "storage/file_io.h"

namespace lancer::dataset {

Result<std::shared_ptr<const Dataset>> Dataset::open(const std::string& uri, std::optional<uint64_t> version) {
  auto ds = std::shared_ptr<Dataset>(new Dataset());
  Status st = ds->load(uri, version);
  if (!st.ok()) return st;
  return std::shared_ptr<const Dataset>(std::move(ds));
}

Status Dataset::load(const std::string& uri, std::optional<uint64_t> version) {
  root_ = uri;
  if (root_.rfind("file://", 0) == 0) root_ = root_.substr(7);
  while (root_.size() > 1 && root_.back() == '/' && !root_.ends_with("://")) root_.pop_back();
  LANCER_RETURN_IF_ERROR(storage::check_scheme(root_));
  LANCER_ASSIGN_OR_RETURN(versions_, lance::list_versions(root_));
  const uint64_t v = version.value_or(versions_.versions.back());
  if (version && !std::binary_search(versions_.versions.begin(), versions_.versions.end(), v)) {
    return Status::NotFound(root_ + " has no version " + std::to_string(v) + " (latest is " +
                            std::to_string(versions_.versions.back()) + ")");
  }
  const std::string name = "_versions/" + lance::manifest_file_name(v, versions_.naming);
  LANCER_ASSIGN_OR_RETURN(manifest_, lance::read_manifest(storage::join_path(root_, name), name));
  const auto& m = manifest_.manifest;
  if (m.version() != v) {
    return Status::Corruption("manifest " + name + " records version " + std::to_string(m.version()));
  }
  LANCER_RETURN_IF_ERROR(lance::check_feature_flags(m.reader_feature_flags(), "reader").context(root_));

  std::map<int32_t, size_t> by_id;
  for (const auto& f : m.fields()) {
    FieldInfo info{f.id(), f.parent_id(), f.name(), f.name(), f.logical_type(), f.nullable()};
    if (f.parent_id() != -1) {
      auto parent = by_id.find(f.parent_id());
      if (parent == by_id.end()) {
        return Status::Corruption("manifest " + name + ": field " + f.name() + " names unknown parent " +
                                  std::to_string(f.parent_id()));
      }
      info.path = fields_[parent->second].path + "." + f.name();
    }
    by_id[f.id()] = fields_.size();
    fields_.push_back(std::move(info));
  }
  for (const auto& frag : m.fragments()) {
    FragmentInfo info;
    info.id = frag.id();
    info.physical_rows = frag.physical_rows();
    if (frag.has_deletion_file()) info.deleted_rows = frag.deletion_file().num_deleted_rows();
    for (const auto& df : frag.files()) {
      DataFileInfo file;
      file.path = df.path();
      file.fields.assign(df.fields().begin(), df.fields().end());
      file.column_indices.assign(df.column_indices().begin(), df.column_indices().end());
      file.version = {static_cast<uint16_t>(df.file_major_version()), static_cast<uint16_t>(df.file_minor_version())};
      file.size_bytes = df.file_size_bytes();
      if (df.has_base_id()) {
        return Status::NotSupported("fragment " + std::to_string(frag.id()) + " data file " + df.path() +
                                    " lives under another base path, which lancer does not support");
      }
      info.files.push_back(std::move(file));
    }
    fragments_.push_back(std::move(info));
  }
  return Status::OK();
}

std::optional<size_t> Dataset::fragment_index(uint64_t id) const {
  for (size_t i = 0; i < fragments_.size(); ++i) {
    if (fragments_[i].id == id) return i;
  }
  return std::nullopt;
}

bool Dataset::has_stable_row_ids() const {
  return (manifest_.manifest.reader_feature_flags() & lance::kFlagStableRowIds) != 0;
}

Result<VectorColumn> Dataset::vector_column(const std::string& path) const {
  for (const auto& f : fields_) {
    if (f.path != path) continue;
    auto type = lance::parse_vector_logical_type(f.logical_type);
    if (!type.ok()) return type.status().context("column " + path + " of " + root_);
    return VectorColumn{f.id, f.path, *type};
  }
  std::string known;
  for (const auto& f : fields_) known += (known.empty() ? "" : ", ") + f.path;
  return Status::NotFound("column " + path + " does not exist in " + root_ + " (columns: " + known + ")");
}

namespace {

std::string index_type_name(const google::protobuf::Any& details, std::string* metric) {
  const std::string& url = details.type_url();
  const std::string message = url.substr(url.rfind('/') + 1);
  if (message != "lance.index.pb.VectorIndexDetails") {
    const std::string short_name = message.substr(message.rfind('.') + 1);
    const std::string suffix = "IndexDetails";
    if (short_name.size() > suffix.size() && short_name.ends_with(suffix)) {
      return short_name.substr(0, short_name.size() - suffix.size());
    }
    return short_name.empty() ? "unknown" : short_name;
  }
  ::lance::index::pb::VectorIndexDetails d;
  if (!d.ParseFromString(details.value())) return "VECTOR (unreadable details)";
  using D = ::lance::index::pb::VectorIndexDetails;
  switch (d.metric_type()) {
    case D::L2: *metric = "l2"; break;
    case D::Cosine: *metric = "cosine"; break;
    case D::Dot: *metric = "dot"; break;
    case D::Hamming: *metric = "hamming"; break;
    default: *metric = "unknown"; break;
  }
  const std::string prefix = d.has_hnsw_index_config() ? "IVF_HNSW_" : "IVF_";
  switch (d.compression_case()) {
    case D::kPq: return prefix + "PQ";
    case D::kSq: return prefix + "SQ";
    case D::kRq: return prefix + "RQ";
    case D::kFlat: return prefix + "FLAT";
    default: return "VECTOR";
  }
}

}  // namespace

const google::protobuf::RepeatedPtrField<::lance::table::IndexMetadata>& Dataset::raw_indices() const {
  static const google::protobuf::RepeatedPtrField<::lance::table::IndexMetadata> kNone;
  return manifest_.index_section ? manifest_.index_section->indices() : kNone;
}

Result<std::vector<IndexInfo>> Dataset::indices() const {
  std::vector<IndexInfo> out;
  if (!manifest_.index_section) return out;
  for (const auto& idx : manifest_.index_section->indices()) {
    IndexInfo info;
    info.name = idx.name();
    info.uuid = core::uuid_to_string(idx.uuid().uuid());
    info.fields.assign(idx.fields().begin(), idx.fields().end());
    info.dataset_version = idx.dataset_version();
    info.index_version = idx.index_version();
    info.type = idx.has_index_details() ? index_type_name(idx.index_details(), &info.metric) : "unknown";
    if (!idx.fragment_bitmap().empty()) {
      const std::string& bm = idx.fragment_bitmap();
      LANCER_ASSIGN_OR_RETURN(info.fragment_ids,
                              lance::roaring_decode(reinterpret_cast<const uint8_t*>(bm.data()), bm.size(),
                                                    "fragment bitmap of index " + idx.name()));
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace lancer::dataset
