// `lancer inspect URI [--version V] [--json]`: versions, schema, fragments, indexes.
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "dataset/dataset.h"
#include "lance/feature_flags.h"

namespace lancer::cli {

namespace {

struct InspectArgs {
  std::string uri;
  std::optional<uint64_t> version;
  bool json = false;
};

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

void print_text(const nlohmann::ordered_json& d) {
  std::cout << d["uri"].get<std::string>() << "\n"
            << "  version " << d["version"] << " of " << d["versions"].size() << " (" << d["versions"].front()
            << ".." << d["versions"].back() << "), " << d["manifest_naming"].get<std::string>() << " manifest names\n"
            << "  data storage version " << d["data_storage_version"].get<std::string>() << ", written by "
            << d["writer"].get<std::string>() << "\n"
            << "  feature flags: reader "
            << lance::describe_feature_flags(d["reader_feature_flags"].get<uint64_t>()) << "; writer "
            << lance::describe_feature_flags(d["writer_feature_flags"].get<uint64_t>()) << "\n"
            << "schema:\n";
  for (const auto& f : d["schema"]) {
    std::cout << "  [" << f["id"] << "] " << f["path"].get<std::string>() << ": "
              << f["logical_type"].get<std::string>() << (f["nullable"].get<bool>() ? "" : " not null") << "\n";
  }
  std::cout << "fragments: " << d["fragments"].size() << ", " << d["physical_rows"] << " rows, "
            << d["deleted_rows"] << " deleted\n";
  for (const auto& f : d["fragments"]) {
    std::cout << "  fragment " << f["id"] << ": " << f["physical_rows"] << " rows, " << f["deleted_rows"]
              << " deleted\n";
    for (const auto& file : f["files"]) {
      std::cout << "    data/" << file["path"].get<std::string>() << " (file version "
                << file["file_version"].get<std::string>() << ", fields " << file["fields"].dump() << ")\n";
    }
  }
  std::cout << "indices: " << d["indices"].size() << "\n";
  for (const auto& i : d["indices"]) {
    std::cout << "  " << i["name"].get<std::string>() << ": " << i["type"].get<std::string>();
    if (!i["metric"].get<std::string>().empty()) std::cout << " (" << i["metric"].get<std::string>() << ")";
    std::cout << " uuid " << i["uuid"].get<std::string>() << " fields " << i["fields"].dump() << " fragments "
              << i["fragment_ids"].dump() << "\n";
  }
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* sub = app.add_subcommand("inspect", "Show a dataset's versions, schema, fragments and indexes");
  sub->add_option("uri", args->uri, "Dataset folder")->required();
  sub->add_option("--version", args->version, "Dataset version (default: latest)");
  sub->add_flag("--json", args->json, "Print JSON");
  return {sub, [args] {
            auto ds = dataset::Dataset::open(args->uri, args->version);
            if (!ds.ok()) return report_error(ds.status());
            auto d = describe(**ds);
            if (!d.ok()) return report_error(d.status());
            if (args->json) {
              std::cout << d->dump(2) << std::endl;
            } else {
              print_text(*d);
            }
            return 0;
          }};
}

}  // namespace lancer::cli
