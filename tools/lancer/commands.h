// Subcommands of the lancer CLI. Each registers itself on the CLI11 app and
// returns the process exit code when run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "lancer/status.h"

namespace lancer::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_inspect_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_create_index_command(CLI::App& app);
Command add_search_command(CLI::App& app);

// Prints "lancer: <status>" to stderr and returns the exit code for it.
int report_error(const Status& status);

}  // namespace lancer::cli
