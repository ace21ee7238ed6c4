// lancer: builds vector indexes for Lance datasets. Subcommands in commands.h.
#include <google/protobuf/stubs/logging.h>

#include <iostream>

#include "commands.h"

namespace lancer::cli {

int report_error(const Status& status) {
  std::cerr << "lancer: " << status.to_string() << std::endl;
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kNotSupported: return 4;
    case StatusCode::kCorruption: return 5;
    default: return 1;
  }
}

}  // namespace lancer::cli

int main(int argc, char** argv) {
  // Our own errors say what was wrong; protobuf's parse-failure logging is noise.
  google::protobuf::SetLogHandler(nullptr);
  CLI::App app{"lancer: fast vector index builder for Lance datasets"};
  app.require_subcommand(1);
  app.set_version_flag("--version-info", "lancer 0.1.0");
  const lancer::cli::Command commands[] = {
      lancer::cli::add_inspect_command(app),
      lancer::cli::add_export_command(app),
      lancer::cli::add_create_index_command(app),
      lancer::cli::add_search_command(app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return 2;
}
