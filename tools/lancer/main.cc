// lancer: builds vector indexes for Lance datasets. Subcommands in commands.h.
#include <google/protobuf/stubs/logging.h>

#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "lancer/runtime.h"
#include "lancer/version.h"
#include "mpi/mpi_build.h"

namespace lancer::cli {

int report_error(const Status& status, const std::string& who) {
  std::cerr << who << ": " << status.to_string() << std::endl;
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kNotSupported: return 4;
    case StatusCode::kCorruption: return 5;
    case StatusCode::kConflict: return 6;  // a concurrent commit lancer cannot rebase over: rebuild
    case StatusCode::kIOError: return 7;   // the operating system refused: permissions, disk full
    default: return 1;
  }
}

namespace {

std::optional<int> run_distributed(const CreateIndexOptions& options, const std::string& report_path) {
  if (!mpi::launched_as_several_ranks()) return std::nullopt;
  const int rank = launcher_rank();
  auto report = mpi::create_index_mpi(options);
  // Every rank says why it stopped, with the documented code: mpirun ends the job as soon as one
  // rank exits non-zero, possibly before rank 0 has written its message.
  if (!report.ok()) {
    return report_error(report.status(), rank == 0 ? "lancer" : "lancer (rank " + std::to_string(rank) + ")");
  }
  return *report ? emit_report(**report, report_path) : 0;
}

// `lancer --version`: the library's build info, and the MPI library mpirun would use.
std::string version_text() {
  const std::string mpi = mpi::mpi_library_version();
  return build_info_text(build_info()) + "\nMPI: " + (mpi.empty() ? "not built (LANCER_MPI=OFF)" : mpi);
}

}  // namespace

}  // namespace lancer::cli

int main(int argc, char** argv) {
  lancer::release_idle_threads();  // before OpenBLAS spins through the build's first 0.1 s
  // Our own errors say what was wrong; protobuf's parse-failure logging is noise.
  google::protobuf::SetLogHandler(nullptr);
  CLI::App app{"lancer: fast vector index builder for Lance datasets"};
  app.require_subcommand(1);
  app.set_version_flag("--version", lancer::cli::version_text);
  std::vector<lancer::cli::Command> commands = {
      lancer::cli::add_inspect_command(app),
      lancer::cli::add_export_command(app),
      lancer::cli::add_create_index_command(app, lancer::cli::run_distributed),
      lancer::cli::add_search_command(app),
  };
  for (auto& c : lancer::cli::add_phase_commands(app)) commands.push_back(std::move(c));
  lancer::cli::StorageArgs storage;
  for (auto& c : commands) lancer::cli::add_storage_options(c.app, storage);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message; --help and --version exit 0, and every command line it cannot
    // parse (an unknown flag, a value out of range) exits with the documented usage code, 2,
    // not CLI11's own codes (105 and up).
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (lancer::Status s = lancer::cli::apply_storage_options(storage); !s.ok()) {
    return lancer::cli::report_error(s);
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return 2;
}
