#include "mpi/mpi_build.h"

#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "lancer/build.h"
#include "lancer/runtime.h"
#include "mpi/mpi_collective.h"
#include "mpi/wait_idle.h"

namespace lancer::mpi {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTagRequest = 1, kTagTask = 2;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The CPU time of this process (every thread: MPI's polling included).
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Adds the seconds from construction to destruction to *total.
class Timed {
 public:
  explicit Timed(double* total) : total_(total), start_(Clock::now()) {}
  ~Timed() { *total_ += seconds_since(start_); }

 private:
  double* total_;
  Clock::time_point start_;
};

// A RankReport as text for the gather to rank 0: the worker on the first line, then numbers.
// Every rank has the same phase list, so rank 0 names the phases.
std::string serialize_rank(const RankReport& r) {
  std::ostringstream out;
  out.precision(17);
  out << r.worker << "\n"
      << r.startup_s << " " << r.startup_cpu_s << " " << r.startup_wait_s << " " << r.sample_s << " " << r.sample_cpu_s
      << " " << r.phases.size();
  for (const auto& p : r.phases)
    out << " " << p.wall_s << " " << p.cpu_s << " " << p.wait_s << " " << p.end_wait_s << " " << p.tasks;
  return out.str();
}

RankReport parse_rank(const std::string& text, const std::vector<RankPhaseReport>& names) {
  RankReport r;
  const size_t nl = text.find('\n');
  r.worker = text.substr(0, nl);
  std::istringstream in(nl == std::string::npos ? std::string() : text.substr(nl + 1));
  size_t n = 0;
  in >> r.startup_s >> r.startup_cpu_s >> r.startup_wait_s >> r.sample_s >> r.sample_cpu_s >> n;
  for (size_t i = 0; i < n && i < names.size() && in; ++i) {
    RankPhaseReport p;
    p.phase = names[i].phase;
    in >> p.wall_s >> p.cpu_s >> p.wait_s >> p.end_wait_s >> p.tasks;
    r.phases.push_back(p);
  }
  return r;
}

// A status every rank agrees on: the root's, broadcast.
Status agree(MpiCollective& comm, const Status& mine, int root) {
  std::string code(1, static_cast<char>(mine.code())), message = mine.message();
  if (!comm.broadcast(&code, root).ok() || !comm.broadcast(&message, root).ok()) {
    return Status::IOError("MPI broadcast failed");
  }
  if (code[0] == static_cast<char>(StatusCode::kOk)) return Status::OK();
  return Status(static_cast<StatusCode>(code[0]), message);
}

// True on every rank when every rank passes true.
bool all_true(bool mine, double* wait_s) {
  Timed timed(wait_s);
  int in = mine ? 1 : 0, out = 0;
  MPI_Request request;
  MPI_Iallreduce(&in, &out, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &request);
  wait_idle(&request);
  return out == 1;
}

[[noreturn]] void abort_job(int rank, const Status& s) {
  std::cerr << "lancer: rank " << rank << ": " << s.to_string() << " (aborting the job; rerun the same command "
            << "to resume)" << std::endl;
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

std::string worker_name(int rank) { return "rank " + std::to_string(rank) + "@" + host_name(); }

// Serves task requests from the other ranks until each has been told "done"
// (-1). Polls with a short sleep so that it does not take a core from the
// builder thread beside it.
void serve_tasks(int size, const std::vector<uint64_t>& tasks, std::atomic<size_t>& next) {
  int remaining = size - 1;
  while (remaining > 0) {
    int dummy = 0, done = 0;
    MPI_Request req;
    MPI_Status st;
    MPI_Irecv(&dummy, 1, MPI_INT, MPI_ANY_SOURCE, kTagRequest, MPI_COMM_WORLD, &req);
    while (!done) {
      MPI_Test(&req, &done, &st);
      if (!done) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    const size_t i = next.fetch_add(1);
    int64_t task = i < tasks.size() ? static_cast<int64_t>(tasks[i]) : -1;
    MPI_Send(&task, 1, MPI_INT64_T, st.MPI_SOURCE, kTagTask, MPI_COMM_WORLD);
    if (task < 0) --remaining;
  }
}

// On rank 0: the tasks of an independent phase not finished before, largest first.
std::vector<uint64_t> missing_tasks(BuildHandle& b, const PhaseInfo& phase) {
  auto listed = b.missing(phase.name);
  if (!listed.ok()) abort_job(0, listed.status());
  return b.largest_first(phase.name, std::move(*listed));
}

// missing_tasks as rank 0 lists them, received by every rank.
std::vector<uint64_t> tasks_to_run(BuildHandle& b, const PhaseInfo& phase, MpiCollective& comm, int rank) {
  std::string bytes;
  if (rank == 0) {
    const std::vector<uint64_t> missing = missing_tasks(b, phase);
    bytes.assign(reinterpret_cast<const char*>(missing.data()), missing.size() * sizeof(uint64_t));
  }
  if (Status st = comm.broadcast(&bytes, 0); !st.ok()) abort_job(rank, st);
  std::vector<uint64_t> tasks(bytes.size() / sizeof(uint64_t));
  std::memcpy(tasks.data(), bytes.data(), tasks.size() * sizeof(uint64_t));
  return tasks;
}

// An independent phase: a dynamic queue of the tasks not finished before. Ranks on one host
// take them from a counter they share (no messages, nothing polling); otherwise rank 0 serves
// them from a helper thread while it runs tasks too. Returns how many tasks were finished
// before (on rank 0; 0 elsewhere); counts this rank's tasks and time in MPI calls into *stats.
uint64_t run_queue(BuildHandle& b, const PhaseInfo& phase, MpiCollective& comm, int rank, int size,
                   const std::string& worker, const CreateIndexOptions& o, RankPhaseReport* stats) {
  auto run_task = [&](uint64_t task) {
    auto r = b.run(phase.name, task, nullptr, worker);
    if (!r.ok()) abort_job(rank, r.status());
    ++stats->tasks;
  };
  const bool report = rank == 0 && o.progress && !phase.progress.empty();
  uint64_t finished_before = 0;
  auto shared = comm.map_shared(sizeof(uint64_t));
  if (!shared.ok()) abort_job(rank, shared.status());
  if (*shared) {
    // The server's thread woke every 0.5 ms for the whole phase (~3 % of rank 0's core), and
    // each task request waited up to a wake-up on either side.
    const std::vector<uint64_t> tasks = tasks_to_run(b, phase, comm, rank);
    if (rank == 0) finished_before = phase.tasks - tasks.size();
    std::atomic_ref<uint64_t> next(*reinterpret_cast<uint64_t*>((*shared)->data()));
    for (uint64_t i = next.fetch_add(1); i < tasks.size(); i = next.fetch_add(1)) {
      run_task(tasks[i]);
      if (report) {
        o.progress(
            ProgressEvent{phase.progress.c_str(), std::min<uint64_t>(next.load(), tasks.size()), tasks.size(), false});
      }
    }
    if (report) o.progress(ProgressEvent{phase.progress.c_str(), tasks.size(), tasks.size(), true});
  } else if (rank == 0) {
    const std::vector<uint64_t> missing = missing_tasks(b, phase);
    finished_before = phase.tasks - missing.size();
    std::atomic<size_t> next{0};
    std::thread server(serve_tasks, size, std::cref(missing), std::ref(next));
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= missing.size()) break;
      run_task(missing[i]);
      if (report) {
        o.progress(ProgressEvent{phase.progress.c_str(), std::min(next.load(), missing.size()), missing.size(), false});
      }
    }
    server.join();
    if (report) o.progress(ProgressEvent{phase.progress.c_str(), missing.size(), missing.size(), true});
  } else {
    for (;;) {
      int dummy = 0;
      int64_t task = -1;
      {
        Timed timed(&stats->wait_s);
        MPI_Send(&dummy, 1, MPI_INT, 0, kTagRequest, MPI_COMM_WORLD);
        MPI_Request request;
        MPI_Irecv(&task, 1, MPI_INT64_T, 0, kTagTask, MPI_COMM_WORLD, &request);
        wait_idle(&request);
      }
      if (task < 0) break;
      run_task(static_cast<uint64_t>(task));
    }
  }
  // The tasks' staging writes finish in the background; rank 0's finalize reads them after the barrier.
  if (Status st = b.settle(); !st.ok()) abort_job(rank, st);
  Timed timed(&stats->end_wait_s);
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  wait_idle(&request);
  return finished_before;
}

}  // namespace

std::string mpi_library_version() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(version, &length);  // allowed before MPI_Init
  std::string text(version, static_cast<size_t>(std::max(0, length)));
  return text.substr(0, text.find_first_of(",\n"));  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
}

Result<std::optional<CreateIndexReport>> create_index_mpi(const CreateIndexOptions& options) {
  const auto t_total = Clock::now();
  (void)prefer_shared_memory_transport();
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  struct Finalize {
    ~Finalize() { MPI_Finalize(); }
  } finalize_at_exit;
  MpiCollective comm(MPI_COMM_WORLD);
  const int rank = comm.rank(), size = comm.size();
  if (provided < MPI_THREAD_SERIALIZED) {
    return Status::NotSupported("the MPI library does not support MPI_THREAD_SERIALIZED");
  }
  CreateIndexOptions o = options;
  if (o.threads <= 0) {  // share the node's cores between its ranks
    const int local = launcher_local_size();
    o.threads = std::max(1, hardware_threads() / local);
  }
  if (rank != 0) o.progress = nullptr;

  // Plan on rank 0; bad input fails here, on every rank, before anything is written.
  std::unique_ptr<BuildHandle> b;
  Status st;
  if (rank == 0) {
    auto planned = BuildHandle::plan(o);
    st = planned.status();
    if (planned.ok()) b = std::move(*planned);
  }
  LANCER_RETURN_IF_ERROR(agree(comm, st, 0));
  if (rank != 0) {
    auto opened = BuildHandle::open(o);
    if (!opened.ok()) abort_job(rank, opened.status());
    b = std::move(*opened);
  }

  // A task's fsyncs and record overlap the next task (run_queue settles them before the
  // phase ends); rank 0's model write overlaps the first tasks (nobody reads it meanwhile:
  // every rank holds the model, and rank 0's finalize waits for its own writes).
  b->write_in_background();
  const std::string worker = worker_name(rank);
  RankReport mine;
  mine.worker = worker;
  mine.startup_s = seconds_since(t_total);
  mine.startup_cpu_s = cpu_seconds();
  mine.startup_wait_s = comm.wait_s();
  for (const PhaseInfo& phase : b->phases()) {
    const auto t = Clock::now();
    const double cpu0 = cpu_seconds(), comm_wait0 = comm.wait_s();
    RankPhaseReport stats;
    stats.phase = phase.name;
    switch (phase.kind) {
      case PhaseKind::kCollective: {
        // Every rank runs it. A data error (InvalidArgument) is the same on
        // every rank; anything else on one rank aborts the job.
        st = Status::OK();
        for (uint64_t i = 0; i < phase.tasks && st.ok(); ++i) st = b->run(phase.name, i, &comm, worker).status();
        if (!st.ok() && st.code() != StatusCode::kInvalidArgument) abort_job(rank, st);
        if (!all_true(st.ok(), &stats.end_wait_s)) {
          if (rank == 0) b->discard();
          return st.ok() ? Status::InvalidArgument("another rank failed to " + phase.name) : st;
        }
        break;
      }
      case PhaseKind::kIndependent: {
        const uint64_t reused = run_queue(*b, phase, comm, rank, size, worker, o, &stats);
        if (rank == 0) b->phase_finished(phase.name, PhaseStats{seconds_since(t), phase.tasks, reused});
        break;
      }
      case PhaseKind::kSingle: {
        // Rank 0 runs it; every rank returns its status.
        st = Status::OK();
        if (rank == 0) {
          for (uint64_t i = 0; i < phase.tasks && st.ok(); ++i) st = b->run(phase.name, i, nullptr, worker).status();
          // A failed finalize (a refused commit, a damaged spill) leaves nothing behind, as in one
          // process (create_index.cc): only a killed job keeps its staging folder to resume.
          if (!st.ok()) b->discard();
        }
        const double before = comm.wait_s();
        LANCER_RETURN_IF_ERROR(agree(comm, st, 0));
        stats.end_wait_s = comm.wait_s() - before;  // the other ranks wait for rank 0 here
        break;
      }
    }
    stats.wall_s = seconds_since(t);
    stats.cpu_s = cpu_seconds() - cpu0;
    // MPI time: the collective's, and the queue's requests and end (none of them through comm).
    stats.wait_s += comm.wait_s() - comm_wait0;
    if (phase.kind != PhaseKind::kSingle) stats.wait_s += stats.end_wait_s;
    mine.phases.push_back(stats);
  }
  // Each rank's times, for the report (one small gather after the commit).
  mine.sample_s = b->report().sample_s;
  mine.sample_cpu_s = b->report().sample_cpu_s;
  auto gathered = comm.all_gather(serialize_rank(mine));
  std::optional<CreateIndexReport> report;
  if (rank == 0) {
    report = b->report();
    report->total_s = seconds_since(t_total);
    report->peak_rss_mb = peak_rss_mb();
    if (gathered.ok()) {
      for (const std::string& text : *gathered) report->ranks.push_back(parse_rank(text, mine.phases));
    }
  }
  return report;
}

}  // namespace lancer::mpi
