// lancer._core: the C++ build phases for the Python package. The Python side
// (python/src/lancer) validates arguments and drives engines; everything here
// is a thin call into the core's public API (lancer/build.h) with the GIL released. Core errors arrive as
// Python exceptions carrying the core's message (see throw_status()).
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <type_traits>
#include <variant>

#include "lancer/build.h"
#include "lancer/build_options.h"
#include "lancer/collective.h"
#include "lancer/create_index.h"
#include "lancer/dataset.h"
#include "lancer/runtime.h"
#include "lancer/storage.h"
#include "lancer/version.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace lancer::python {

namespace {

// Exception types, created at import; lancer/__init__.py re-exports them.
PyObject* corruption_error = nullptr;  // lancer.CorruptionError(Exception)
PyObject* not_found_error = nullptr;   // lancer.NotFoundError(ValueError, FileNotFoundError)
PyObject* conflict_error = nullptr;    // lancer.CommitConflictError(RuntimeError)

[[noreturn]] void throw_status(const Status& s) {
  PyObject* type = PyExc_RuntimeError;
  switch (s.code()) {
    case StatusCode::kInvalidArgument: type = PyExc_ValueError; break;
    case StatusCode::kNotFound: type = not_found_error; break;
    case StatusCode::kNotSupported: type = PyExc_NotImplementedError; break;
    case StatusCode::kCorruption: type = corruption_error; break;
    case StatusCode::kIOError: type = PyExc_OSError; break;
    case StatusCode::kConflict: type = conflict_error; break;
    default: break;
  }
  PyErr_SetString(type, s.message().c_str());
  throw nb::python_error();
}

template <typename T>
T value_or_throw(Result<T> r) {
  if (!r.ok()) throw_status(r.status());
  return std::move(*r);
}

void ok_or_throw(const Status& s) {
  if (!s.ok()) throw_status(s);
}

// The Python side passes the resolved options as a dict keyed by the names of
// lancer/build_options.h; None leaves the default.
CreateIndexOptions to_options(const nb::dict& d) {
  CreateIndexOptions o;
  for (auto [key, value] : d) {
    const std::string k = nb::cast<std::string>(key);
    if (value.is_none()) continue;
    if (k == "storage_options") {  // not a build parameter: where the data lives
      o.storage_options = nb::cast<std::map<std::string, std::string>>(value);
      continue;
    }
    const BuildOption* option = find_build_option(k);
    if (!option) throw nb::value_error(("unknown build option: " + k).c_str());
    std::visit(
        [&](auto member) {
          auto& field = o.*member;
          using T = std::remove_reference_t<decltype(field)>;
          if constexpr (std::is_same_v<T, std::optional<int>>) {
            field = nb::cast<int>(value);
          } else {
            field = nb::cast<T>(value);
          }
        },
        option->field);
  }
  return canonical_options(std::move(o));
}

std::vector<std::string> build_option_names() {
  std::vector<std::string> names;
  for (const BuildOption& o : build_options()) names.emplace_back(o.name);
  return names;
}

// progress(phase, done, total, finished) from any core thread; a Python error
// in it is reported once and the build goes on.
void attach_progress(CreateIndexOptions& o, nb::object progress) {
  if (progress.is_none()) return;
  auto fn = std::make_shared<nb::object>(progress);
  o.progress = [fn](const ProgressEvent& e) {
    nb::gil_scoped_acquire gil;
    try {
      (*fn)(e.phase, e.done, e.total, e.finished);
    } catch (nb::python_error& err) {
      err.discard_as_unraisable("lancer progress callback");
    }
  };
}

std::unique_ptr<BuildHandle> open_build(const CreateIndexOptions& o) {
  Result<std::unique_ptr<BuildHandle>> b = [&] {
    nb::gil_scoped_release nogil;
    return BuildHandle::open(o);
  }();
  return value_or_throw(std::move(b));
}

std::string create_index(const nb::dict& options, nb::object progress) {
  CreateIndexOptions o = to_options(options);
  attach_progress(o, progress);
  Result<CreateIndexReport> r = [&] {
    nb::gil_scoped_release nogil;
    return lancer::create_index(o);
  }();
  return value_or_throw(std::move(r)).to_json();
}

nb::dict plan(const nb::dict& options) {
  const CreateIndexOptions o = to_options(options);
  Result<std::unique_ptr<BuildHandle>> r = [&] {
    nb::gil_scoped_release nogil;
    return BuildHandle::plan(o);
  }();
  std::unique_ptr<BuildHandle> b = value_or_throw(std::move(r));
  const PlanSummary s = b->summary();
  nb::dict out;
  out["staging"] = s.staging;
  out["uuid"] = s.uuid;
  out["dataset_version"] = s.dataset_version;
  out["tasks"] = s.tasks;
  out["resumed"] = s.resumed;
  out["trained"] = b->model_trained();
  nb::list missing;
  for (uint64_t t : b->missing_tasks()) missing.append(t);
  out["missing_tasks"] = missing;
  return out;
}

// A rank's collective: alone, or with size > 1 exchanging parts through
// files in `exchange_dir`, which every rank must see and which must be new for
// each run of the phase.
void check_ranks(int rank, int size, const std::string& exchange_dir, const char* what) {
  if (size < 1 || rank < 0 || rank >= size)
    throw nb::value_error((std::string(what) + ": need 0 <= rank < size").c_str());
  if (size > 1 && exchange_dir.empty())
    throw nb::value_error((std::string(what) + ": size > 1 needs an exchange_dir").c_str());
}

std::unique_ptr<Collective> make_collective(int rank, int size, const std::string& exchange_dir) {
  return size > 1 ? file_collective(exchange_dir, rank, size) : local_collective();
}

nb::dict outcome_dict(const TaskOutcome& t) {
  nb::dict out;
  out["task"] = t.task;
  out["rows"] = t.rows;
  out["busy_s"] = t.busy_s;
  out["worker"] = t.worker;
  out["reused"] = t.reused;
  return out;
}

// Trains as rank `rank` of `size` (see make_collective). Rank 0 writes the
// model into the staging folder.
void train(const nb::dict& options, nb::object progress, int rank, int size, const std::string& exchange_dir) {
  CreateIndexOptions o = to_options(options);
  attach_progress(o, progress);
  check_ranks(rank, size, exchange_dir, "train");
  std::unique_ptr<BuildHandle> b = open_build(o);
  Status st;
  {
    nb::gil_scoped_release nogil;
    std::unique_ptr<Collective> collective = make_collective(rank, size, exchange_dir);
    st = b->run("train", 0, collective.get()).status();
  }
  ok_or_throw(st);
}

nb::dict build_task(const nb::dict& options, uint64_t task) {
  const CreateIndexOptions o = to_options(options);
  std::unique_ptr<BuildHandle> b = open_build(o);
  if (!b->model_trained()) {
    throw_status(
        Status::InvalidArgument("the model is not trained yet in " + b->summary().staging + " (run train first)"));
  }
  Result<TaskOutcome> r = [&] {
    nb::gil_scoped_release nogil;
    return b->run("encode", task);
  }();
  return outcome_dict(value_or_throw(std::move(r)));
}

// The phases every driver runs in order: [{name, kind, tasks, progress}].
nb::list phases(const nb::dict& options) {
  std::unique_ptr<BuildHandle> b = open_build(to_options(options));
  nb::list out;
  for (const PhaseInfo& p : b->phases()) {
    nb::dict d;
    d["name"] = p.name;
    d["kind"] = phase_kind_name(p.kind);
    d["tasks"] = p.tasks;
    d["progress"] = p.progress;
    out.append(d);
  }
  return out;
}

// The tasks of `phase` not done yet, largest first, so that a pool of workers
// pulling them in this order ends on the small ones (as MPI ranks do).
nb::list missing(const nb::dict& options, const std::string& phase) {
  std::unique_ptr<BuildHandle> b = open_build(to_options(options));
  nb::list out;
  for (uint64_t t : b->largest_first(phase, value_or_throw(b->missing(phase)))) out.append(t);
  return out;
}

// Runs task `task` of `phase` as rank `rank` of `size` (collective phases; see
// make_collective). Returns the task's outcome, and with it "report" (JSON) when
// `phase` is the last phase, which completes the build.
nb::dict run_phase(const nb::dict& options, const std::string& phase, uint64_t task, nb::object progress, int rank,
                   int size, const std::string& exchange_dir) {
  CreateIndexOptions o = to_options(options);
  attach_progress(o, progress);
  check_ranks(rank, size, exchange_dir, "run_phase");
  std::unique_ptr<BuildHandle> b = open_build(o);
  const bool last = b->phases().back().name == phase;
  Result<TaskOutcome> r = [&]() -> Result<TaskOutcome> {
    nb::gil_scoped_release nogil;
    std::unique_ptr<Collective> collective = make_collective(rank, size, exchange_dir);
    LANCER_RETURN_IF_ERROR(b->ready(phase));
    if (last) b->report().tasks = b->summary().tasks;
    return b->run(phase, task, collective.get());
  }();
  nb::dict out = outcome_dict(value_or_throw(std::move(r)));
  if (last) {
    CreateIndexReport report = b->report();
    report.peak_rss_mb = peak_rss_mb();
    out["report"] = report.to_json();
  }
  return out;
}

nb::list missing_tasks(const nb::dict& options) {
  std::unique_ptr<BuildHandle> b = open_build(to_options(options));
  nb::list out;
  for (uint64_t t : b->missing_tasks()) out.append(t);
  return out;
}

std::string finalize(const nb::dict& options, nb::object progress) {
  CreateIndexOptions o = to_options(options);
  attach_progress(o, progress);
  Result<CreateIndexReport> r = [&] {
    nb::gil_scoped_release nogil;
    return finalize_index(o);
  }();
  return value_or_throw(std::move(r)).to_json();
}

// Removes the staging folder of the build planned with `options` (after a failure).
void discard(const nb::dict& options) {
  open_build(to_options(options))->discard();
}

using Options = std::map<std::string, std::string>;

std::vector<std::string> cleanup(const std::string& uri, const std::string& work_dir, const Options& storage) {
  Result<std::vector<std::string>> r = [&]() -> Result<std::vector<std::string>> {
    nb::gil_scoped_release nogil;
    LANCER_RETURN_IF_ERROR(set_storage_options(uri, storage));
    if (!work_dir.empty()) LANCER_RETURN_IF_ERROR(set_storage_options(work_dir, storage));
    return cleanup_builds(uri, work_dir);
  }();
  return value_or_throw(std::move(r));
}

std::string inspect(const std::string& uri, std::optional<uint64_t> version, const Options& storage) {
  Result<std::string> r = [&]() -> Result<std::string> {
    nb::gil_scoped_release nogil;
    LANCER_RETURN_IF_ERROR(set_storage_options(uri, storage));
    return describe_dataset(uri, version);
  }();
  return value_or_throw(std::move(r));
}

// Runs `op` (a storage call) with the GIL released, after registering the options of `uri`.
template <typename Op>
void with_storage(const std::string& uri, const Options& storage, Op op) {
  Status s = [&] {
    nb::gil_scoped_release nogil;
    Status st = set_storage_options(uri, storage);
    return st.ok() ? op() : st;
  }();
  ok_or_throw(s);
}

// Small files the Python side keeps beside a dataset on an object store (supplied centroids).
void put_file(const std::string& uri, nb::bytes data, const Options& storage) {
  std::string bytes(data.c_str(), data.size());
  with_storage(uri, storage, [&] { return write_file(uri, bytes); });
}

void delete_file(const std::string& uri, const Options& storage) {
  with_storage(uri, storage, [&] { return remove_file(uri); });
}

void delete_tree(const std::string& uri, const Options& storage) {
  with_storage(uri, storage, [&] { return remove_tree(uri); });
}

// lancer/version.h as a dict, and the text `lancer --version` prints (lancer.__version__).
nb::dict build_info() {
  const BuildInfo info = lancer::build_info();
  nb::dict d;
  d["version"] = info.version;
  d["git_revision"] = info.git_revision;
  d["simd_kernels"] = info.simd_kernels;
  d["simd_cpu"] = info.simd_cpu;
  d["simd_in_use"] = info.simd_in_use;
  d["blas"] = info.blas;
  d["blas_kernel"] = info.blas_kernel;
  d["blas_library"] = info.blas_library;
  d["object_store"] = info.object_store;
  d["bf16_proposal"] = info.bf16_proposal;
  d["text"] = build_info_text(info);
  return d;
}

PyObject* new_exception(nb::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string("lancer.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (!type) throw nb::python_error();
  m.attr(name) = nb::handle(type);
  return type;
}

}  // namespace

}  // namespace lancer::python

NB_MODULE(_core, m) {
  using namespace lancer::python;
  m.doc() = "lancer's C++ core (use the functions of the lancer package)";
  lancer::release_idle_threads();  // OpenBLAS's threads, spinning since this module was loaded
  corruption_error =
      new_exception(m, "CorruptionError", PyExc_Exception, "A Lance file's contents contradict the format.");
  nb::object nf_bases = nb::make_tuple(nb::handle(PyExc_ValueError), nb::handle(PyExc_FileNotFoundError));
  not_found_error =
      new_exception(m, "NotFoundError", nf_bases.ptr(), "A dataset, version, column, index or file does not exist.");
  conflict_error = new_exception(m, "CommitConflictError", PyExc_RuntimeError,
                                 "A concurrent writer's commit is incompatible with the index.");

  m.def("build_option_names", &build_option_names);
  m.def("buildable_index_types", [] { return lancer::buildable_index_types(); });
  m.def("create_index", &create_index, "options"_a, "progress"_a = nb::none());
  m.def("plan", &plan, "options"_a);
  m.def("train", &train, "options"_a, "progress"_a = nb::none(), "rank"_a = 0, "size"_a = 1, "exchange_dir"_a = "");
  m.def("build_task", &build_task, "options"_a, "task"_a);
  m.def("missing_tasks", &missing_tasks, "options"_a);
  m.def("finalize", &finalize, "options"_a, "progress"_a = nb::none());
  m.def("discard", &discard, "options"_a);
  m.def("phases", &phases, "options"_a);
  m.def("missing", &missing, "options"_a, "phase"_a);
  m.def("run_phase", &run_phase, "options"_a, "phase"_a, "task"_a = 0, "progress"_a = nb::none(), "rank"_a = 0,
        "size"_a = 1, "exchange_dir"_a = "");
  m.def("cleanup", &cleanup, "uri"_a, "work_dir"_a = "", "storage_options"_a = Options());
  m.def("inspect", &inspect, "uri"_a, "version"_a = nb::none(), "storage_options"_a = Options());
  m.def("put_file", &put_file, "uri"_a, "data"_a, "storage_options"_a = Options());
  m.def("delete_file", &delete_file, "uri"_a, "storage_options"_a = Options());
  m.def("delete_tree", &delete_tree, "uri"_a, "storage_options"_a = Options());
  m.def("object_store_supported", [] { return lancer::object_store_supported(); });
  m.def("hardware_threads", [] { return lancer::hardware_threads(); });
  m.def("build_info", &build_info);
}
