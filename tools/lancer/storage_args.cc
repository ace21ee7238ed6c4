// --storage-option KEY=VALUE (repeatable) and --storage-options-file F on every subcommand: Lance's
// storage_options for object-store URIs. Secrets belong in the file (or AWS_* variables): the
// command line is readable by every user of the machine.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "lancer/storage.h"

namespace lancer::cli {

namespace {

bool looks_secret(const std::string& key) {
  for (const char* w : {"secret", "token", "sas", "password", "account_key", "service_account_key"}) {
    if (key.find(w) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

void add_storage_options(CLI::App* sub, StorageArgs& args) {
  sub->add_option("--storage-option", args.pairs,
                  "Object-store option KEY=VALUE as Lance's storage_options (repeatable; e.g. aws_region=us-east-1, "
                  "aws_endpoint=http://host:port, allow_http=true). Put secrets in --storage-options-file "
                  "or the environment (AWS_SECRET_ACCESS_KEY, ...), not here");
  sub->add_option("--storage-options-file", args.file,
                  "A JSON object of storage options (keep it readable by you alone: it may hold credentials)");
}

Status apply_storage_options(const StorageArgs& args) {
  StorageOptions options;
  if (!args.file.empty()) {
    std::ifstream in(args.file);
    if (!in) return Status::NotFound("cannot read the storage options file " + args.file);
    try {
      const auto j = nlohmann::json::parse(in);
      if (!j.is_object()) return Status::InvalidArgument(args.file + ": expected a JSON object of storage options");
      for (const auto& [k, v] : j.items()) {
        if (v.is_string()) {
          options[k] = v.get<std::string>();
        } else if (v.is_boolean() || v.is_number()) {
          options[k] = v.dump();
        } else {
          return Status::InvalidArgument(args.file + ": storage option " + k + " must be a string, number or bool");
        }
      }
    } catch (const std::exception& e) {
      return Status::InvalidArgument(args.file + ": not JSON (" + std::string(e.what()).substr(0, 80) + ")");
    }
  }
  for (const auto& pair : args.pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--storage-option wants KEY=VALUE, got \"" + pair.substr(0, pair.find('=')) +
                                     "...\"");
    }
    std::string key = pair.substr(0, eq);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (looks_secret(key)) {
      std::cerr << "lancer: warning: --storage-option " << key
                << " puts a secret on the command line, where other users can read it; use "
                   "--storage-options-file or the environment\n";
    }
    options[key] = pair.substr(eq + 1);
  }
  return set_default_storage_options(options);
}

}  // namespace lancer::cli
