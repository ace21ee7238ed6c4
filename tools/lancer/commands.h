// Subcommands of the lancer CLI. Each registers itself on the CLI11 app and
// returns the process exit code when run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lancer/create_index.h"
#include "lancer/status.h"

namespace lancer::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_inspect_command(CLI::App& app);
Command add_export_command(CLI::App& app);
// Runs create-index distributed when this process is one of several MPI
// ranks; returns the exit code then, nullopt to build in this process alone.
using DistributedRunner = std::function<std::optional<int>(const CreateIndexOptions&, const std::string& report)>;
Command add_create_index_command(CLI::App& app, DistributedRunner distributed);
// plan, train, build-task, finalize, cleanup, and run-phase (any phase by name).
std::vector<Command> add_phase_commands(CLI::App& app);
void print_report(const CreateIndexReport& report);
int emit_report(const CreateIndexReport& report, const std::string& path);
Command add_search_command(CLI::App& app);

// --storage-option / --storage-options-file of every subcommand (storage_args.cc).
struct StorageArgs {
  std::vector<std::string> pairs;
  std::string file;
};
void add_storage_options(CLI::App* sub, StorageArgs& args);
// Registers them as the options of every object store this process reaches.
Status apply_storage_options(const StorageArgs& args);

// Prints "<who>: <status>" to stderr and returns the exit code for it.
int report_error(const Status& status, const std::string& who = "lancer");

}  // namespace lancer::cli
