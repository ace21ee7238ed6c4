// `lancer inspect URI [--version V] [--json]`: versions, schema, fragments, indexes.
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "dataset/dataset.h"
#include "dataset/describe.h"
#include "lance/feature_flags.h"

namespace lancer::cli {

namespace {

struct InspectArgs {
  std::string uri;
  std::optional<uint64_t> version;
  bool json = false;
};

void print_text(const nlohmann::ordered_json& d) {
  std::cout << d["uri"].get<std::string>() << "\n"
            << "  version " << d["version"] << " of " << d["versions"].size() << " (" << d["versions"].front() << ".."
            << d["versions"].back() << "), " << d["manifest_naming"].get<std::string>() << " manifest names\n"
            << "  data storage version " << d["data_storage_version"].get<std::string>() << ", written by "
            << d["writer"].get<std::string>() << "\n"
            << "  feature flags: reader " << lance::describe_feature_flags(d["reader_feature_flags"].get<uint64_t>())
            << "; writer " << lance::describe_feature_flags(d["writer_feature_flags"].get<uint64_t>()) << "\n"
            << "schema:\n";
  for (const auto& f : d["schema"]) {
    std::cout << "  [" << f["id"] << "] " << f["path"].get<std::string>() << ": "
              << f["logical_type"].get<std::string>() << (f["nullable"].get<bool>() ? "" : " not null") << "\n";
  }
  std::cout << "fragments: " << d["fragments"].size() << ", " << d["physical_rows"] << " rows, " << d["deleted_rows"]
            << " deleted\n";
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
  sub->add_option("uri", args->uri, "Dataset: a folder or an object-store URI (s3://, gs://, az://)")->required();
  sub->add_option("--version", args->version, "Dataset version (default: latest)");
  sub->add_flag("--json", args->json, "Print JSON");
  return {sub, [args] {
            auto ds = dataset::Dataset::open(args->uri, args->version);
            if (!ds.ok()) return report_error(ds.status());
            auto d = dataset::describe(**ds);
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
