// The build subcommands: `lancer create-index URI --column COL --index-type
// IVF_FLAT|IVF_SQ|IVF_PQ ...` (whole build, distributed under mpirun), and the
// same build a step at a time for other schedulers: plan, train, build-task,
// finalize, cleanup, and run-phase (any phase of lancer/build.h by name).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <variant>
#include <vector>

#include "commands.h"
#include "lancer/build.h"
#include "lancer/build_options.h"
#include "lancer/create_index.h"
#include "lancer/runtime.h"

namespace lancer::cli {

namespace {

struct Args {
  CreateIndexOptions options;
  std::string report;
  bool no_replace = false;
};

}  // namespace

void print_report(const CreateIndexReport& r) {
  if (r.already_committed) {
    std::cout << "index \"" << r.name << "\" (uuid " << r.uuid << ") was already committed by the interrupted build; "
              << r.uri << " is at version " << r.version << " (removed its staging folder)\n";
    std::cout.flush();
    return;
  }
  std::cout << "committed " << r.index_type << " index \"" << r.name << "\" (uuid " << r.uuid << ", " << r.metric
            << ") on " << r.column << " as version " << r.version << " of " << r.uri << "\n"
            << "  rows " << r.rows << " in " << r.fragments << " fragments; skipped " << r.null_rows << " null, "
            << r.deleted_rows << " deleted, " << r.skipped_nonfinite << " non-finite\n"
            << "  partitions " << r.num_partitions;
  if (r.num_sub_vectors) std::cout << ", sub-vectors " << r.num_sub_vectors;
  std::cout << "\n  phase        seconds\n";
  const std::pair<const char*, double> phases[] = {
      {"sample", r.sample_s}, {"train IVF", r.train_ivf_s}, {"train PQ/SQ", r.train_quantizer_s},
      {"build", r.build_s},   {"merge", r.merge_s},         {"commit", r.commit_s},
      {"total", r.total_s}};
  for (const auto& [name, s] : phases) std::printf("  %-12s %8.3f\n", name, s);
  std::printf("  peak memory  %8.1f MB\n", r.peak_rss_mb);
  if (r.segments > 1) std::printf("  committed as %llu segments\n", (unsigned long long)r.segments);
  if (r.resumed)
    std::printf("  resumed: %llu of %llu tasks reused\n", (unsigned long long)r.reused_tasks,
                (unsigned long long)r.tasks);
  if (r.workers.size() > 1) {
    std::printf("  worker                         tasks  busy s\n");
    for (const auto& w : r.workers)
      std::printf("  %-30s %5llu %7.3f\n", w.worker.c_str(), (unsigned long long)w.tasks, w.busy_s);
  }
  if (!r.ranks.empty()) {
    std::printf("  rank           phase       wall s   cpu s  wait s  at end  tasks\n");
    for (const auto& k : r.ranks) {
      std::printf("  %-14.14s %-10s %7.3f %7.3f %7.3f\n", k.worker.c_str(), "start-up", k.startup_s, k.startup_cpu_s,
                  k.startup_wait_s);
      std::printf("  %-14.14s %-10s %7.3f %7.3f\n", k.worker.c_str(), "(sample)", k.sample_s, k.sample_cpu_s);
      for (const auto& p : k.phases)
        std::printf("  %-14.14s %-10s %7.3f %7.3f %7.3f %7.3f %6llu\n", k.worker.c_str(), p.phase.c_str(), p.wall_s,
                    p.cpu_s, p.wait_s, p.end_wait_s, (unsigned long long)p.tasks);
    }
  }
  std::cout.flush();
}

namespace {

// A bar per phase on a terminal; one line per phase otherwise (logs, CI).
std::function<void(const ProgressEvent&)> make_progress_printer() {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [tty, last](const ProgressEvent& e) {
    if (!tty) {
      if (e.finished) std::fprintf(stderr, "lancer: %s done\n", e.phase);
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!e.finished && now - *last < std::chrono::milliseconds(100)) return;
    *last = now;
    constexpr int kWidth = 30;
    const double frac = e.total ? std::min(1.0, double(e.done) / double(e.total)) : (e.finished ? 1.0 : 0.0);
    const int filled = static_cast<int>(frac * kWidth);
    std::fprintf(stderr, "\r  %-12s [%.*s%*s] %3d%%", e.phase, filled, "##############################",
                 kWidth - filled, "", static_cast<int>(frac * 100));
    if (e.finished) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace

namespace {

// One CLI flag from an entry of lancer/build_options.h.
template <typename T>
void add_build_option(CLI::App* sub, const BuildOption& option, T& value) {
  const std::string help(option.help);
  CLI::Option* flag;
  if constexpr (std::is_same_v<T, bool>) {
    const std::string name = cli_flag(option);
    flag = sub->add_flag(name + ",!--no-" + name.substr(2), value, help);
  } else {
    flag = sub->add_option(option.positional ? std::string(option.name) : cli_flag(option), value, help);
  }
  if (option.required) flag->required();
  if (!option.choices.empty()) flag->check(CLI::IsMember(option.choices, CLI::ignore_case));
  if (option.check == BuildOption::Check::kExistingFile) flag->check(CLI::ExistingFile);
}

// The options every build subcommand takes (lancer/build_options.h): plan, train,
// build-task, finalize and run-phase see the same ones as the create-index they stand for.
void add_build_options(CLI::App* sub, CreateIndexOptions& o) {
  for (const BuildOption& option : build_options()) {
    std::visit([&](auto member) { add_build_option(sub, option, o.*member); }, option.field);
  }
}

CreateIndexOptions finished_options(CreateIndexOptions o) {
  o = canonical_options(std::move(o));
  o.progress = make_progress_printer();
  return o;
}

}  // namespace

int emit_report(const CreateIndexReport& report, const std::string& path) {
  print_report(report);
  if (!path.empty()) {
    std::ofstream out(path);
    out << report.to_json() << "\n";
    if (!out) return report_error(Status::IOError("cannot write report " + path));
  }
  return 0;
}

Command add_create_index_command(CLI::App& app, DistributedRunner distributed) {
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("create-index",
                                     "Build an IVF index on a vector column and commit it "
                                     "(distributed when started by mpirun with several ranks)");
  add_build_options(sub, args->options);
  sub->add_option("--report", args->report, "Also write the phase report as JSON to this file");
  return {sub, [args, distributed] {
            const auto opts = finished_options(args->options);
            if (distributed) {
              if (auto code = distributed(opts, args->report)) return *code;
            }
            auto report = create_index(opts);
            if (!report.ok()) return report_error(report.status());
            return emit_report(*report, args->report);
          }};
}

std::vector<Command> add_phase_commands(CLI::App& app) {
  std::vector<Command> out;
  {
    auto o = std::make_shared<CreateIndexOptions>();
    CLI::App* sub = app.add_subcommand("plan", "Plan a build in its staging folder and print the task count");
    add_build_options(sub, *o);
    auto json = std::make_shared<bool>(false);
    sub->add_flag("--json", *json, "Print the plan as JSON");
    out.push_back({sub, [o, json] {
                     auto plan = plan_index(finished_options(*o));
                     if (!plan.ok()) return report_error(plan.status());
                     if (*json) {
                       // Escaped by the library: a staging path may hold quotes or backslashes.
                       const nlohmann::ordered_json j{{"tasks", plan->tasks},
                                                      {"staging", plan->staging},
                                                      {"uuid", plan->uuid},
                                                      {"dataset_version", plan->dataset_version},
                                                      {"resumed", plan->resumed}};
                       std::cout << j.dump() << "\n";
                     } else {
                       std::cout << plan->tasks << "\n";
                       std::cerr << "lancer: " << (plan->resumed ? "resuming" : "planned") << " build of version "
                                 << plan->dataset_version << " in " << plan->staging << " (" << plan->tasks
                                 << " tasks)\n";
                     }
                     return 0;
                   }});
  }
  {
    auto o = std::make_shared<CreateIndexOptions>();
    CLI::App* sub = app.add_subcommand("train", "Train the planned build's model (IVF centroids, PQ/SQ)");
    add_build_options(sub, *o);
    out.push_back({sub, [o] {
                     Status s = train_index(finished_options(*o));
                     return s.ok() ? 0 : report_error(s);
                   }});
  }
  {
    auto o = std::make_shared<CreateIndexOptions>();
    auto task = std::make_shared<uint64_t>(0);
    CLI::App* sub = app.add_subcommand("build-task", "Build one task of the plan (idempotent)");
    add_build_options(sub, *o);
    sub->add_option("--task", *task, "Task index, 0 .. tasks-1")->required();
    out.push_back({sub, [o, task] {
                     Status s = build_index_task(finished_options(*o), *task);
                     return s.ok() ? 0 : report_error(s);
                   }});
  }
  {
    auto args = std::make_shared<Args>();
    CLI::App* sub = app.add_subcommand("finalize", "Merge every task's results and commit the index");
    add_build_options(sub, args->options);
    sub->add_option("--report", args->report, "Also write the phase report as JSON to this file");
    out.push_back({sub, [args] {
                     auto report = finalize_index(finished_options(args->options));
                     if (!report.ok()) return report_error(report.status());
                     return emit_report(*report, args->report);
                   }});
  }
  {
    auto args = std::make_shared<Args>();
    auto phase = std::make_shared<std::string>();
    auto task = std::make_shared<uint64_t>(0);
    auto list = std::make_shared<bool>(false);
    CLI::App* sub = app.add_subcommand("run-phase", "Run one task of one phase of the planned build (idempotent)");
    add_build_options(sub, args->options);
    sub->add_option("--phase", *phase, "Phase name, as --list prints them (train, encode, finalize)");
    sub->add_option("--task", *task, "Task index within the phase, 0 .. tasks-1 (default 0)");
    sub->add_flag("--list", *list, "Print the phases (name, kind, tasks) instead");
    sub->add_option("--report", args->report, "After the last phase: also write the phase report as JSON here");
    out.push_back({sub, [args, phase, task, list] {
                     const auto t0 = std::chrono::steady_clock::now();
                     auto b = BuildHandle::open(finished_options(args->options));
                     if (!b.ok()) return report_error(b.status());
                     const std::vector<PhaseInfo> phases = (*b)->phases();
                     if (*list) {
                       for (const auto& p : phases) {
                         std::cout << p.name << " " << phase_kind_name(p.kind) << " " << p.tasks << "\n";
                       }
                       return 0;
                     }
                     if (phase->empty())
                       return report_error(Status::InvalidArgument("run-phase needs --phase NAME (or --list)"));
                     if (Status s = (*b)->ready(*phase); !s.ok()) return report_error(s);
                     const bool last = phases.back().name == *phase;
                     if (last) (*b)->report().tasks = (*b)->summary().tasks;
                     auto r = (*b)->run(*phase, *task);
                     if (!r.ok()) return report_error(r.status());
                     if (!last) return 0;
                     // The last phase completed the build: its report, as finalize prints it.
                     CreateIndexReport report = (*b)->report();
                     report.total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                     report.peak_rss_mb = peak_rss_mb();
                     return emit_report(report, args->report);
                   }});
  }
  {
    auto uri = std::make_shared<std::string>();
    auto work_dir = std::make_shared<std::string>();
    CLI::App* sub = app.add_subcommand("cleanup", "Remove what failed builds left (never a running build)");
    sub->add_option("uri", *uri, "Dataset: a folder or an object-store URI (s3://, gs://, az://)")->required();
    sub->add_option("--work-dir", *work_dir, "Also this staging folder (a build's --work-dir)");
    out.push_back({sub, [uri, work_dir] {
                     auto removed = cleanup_builds(*uri, *work_dir);
                     if (!removed.ok()) return report_error(removed.status());
                     for (const auto& r : *removed) std::cout << "removed " << r << "\n";
                     if (removed->empty()) std::cout << "nothing to clean up\n";
                     return 0;
                   }});
  }
  return out;
}

}  // namespace lancer::cli
