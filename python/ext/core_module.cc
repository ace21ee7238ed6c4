// lancer._core: the C++ build phases for the Python package. The Python side
// (python/src/lancer) validates arguments and drives engines; everything here
// is a thin call into the core with the GIL released. Core errors arrive as
// Python exceptions carrying the core's message (see throw_status()).
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <thread>

#include "pipeline/index_build.h"
#include "core/executor.h"
#include "core/file_collective.h"
#include "core/process_stats.h"
#include "dataset/describe.h"
#include "lancer/create_index.h"
#include "linalg/blas.h"

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

// The Python side passes the resolved options as a dict of these keys.
CreateIndexOptions to_options(const nb::dict& d) {
  CreateIndexOptions o;
  for (auto [key, value] : d) {
    const std::string k = nb::cast<std::string>(key);
    if (value.is_none()) continue;
    if (k == "uri") o.uri = nb::cast<std::string>(value);
    else if (k == "column") o.column = nb::cast<std::string>(value);
    else if (k == "index_type") o.index_type = nb::cast<std::string>(value);
    else if (k == "name") o.name = nb::cast<std::string>(value);
    else if (k == "replace") o.replace = nb::cast<bool>(value);
    else if (k == "metric") o.metric = nb::cast<std::string>(value);
    else if (k == "num_partitions") o.num_partitions = nb::cast<int>(value);
    else if (k == "num_sub_vectors") o.num_sub_vectors = nb::cast<int>(value);
    else if (k == "num_bits") o.num_bits = nb::cast<int>(value);
    else if (k == "sample_rate") o.sample_rate = nb::cast<int>(value);
    else if (k == "max_iters") o.max_iters = nb::cast<int>(value);
    else if (k == "num_segments") o.num_segments = nb::cast<int>(value);
    else if (k == "ivf_centroids") o.ivf_centroids = nb::cast<std::string>(value);
    else if (k == "pq_codebook") o.pq_codebook = nb::cast<std::string>(value);
    else if (k == "seed") o.seed = nb::cast<uint64_t>(value);
    else if (k == "threads") o.threads = nb::cast<int>(value);
    else if (k == "work_dir") o.work_dir = nb::cast<std::string>(value);
    else throw nb::value_error(("unknown build option: " + k).c_str());
  }
  if (o.metric == "euclidean") o.metric = "l2";
  return o;
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

std::string this_worker() { return core::host_name() + ":" + std::to_string(::getpid()); }

std::unique_ptr<pipeline::IndexBuild> open_build(const CreateIndexOptions& o) {
  Result<std::unique_ptr<pipeline::IndexBuild>> b = [&] {
    nb::gil_scoped_release nogil;
    return pipeline::IndexBuild::open(o);
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
  Result<std::unique_ptr<pipeline::IndexBuild>> r = [&] {
    nb::gil_scoped_release nogil;
    return pipeline::IndexBuild::plan(o);
  }();
  std::unique_ptr<pipeline::IndexBuild> b = value_or_throw(std::move(r));
  nb::dict out;
  out["staging"] = b->staging();
  out["uuid"] = b->record().uuid;
  out["dataset_version"] = b->record().dataset_version;
  out["tasks"] = b->record().tasks.size();
  out["resumed"] = b->resumed();
  out["trained"] = b->model_trained();
  nb::list missing;
  for (uint64_t t : b->missing_tasks()) missing.append(t);
  out["missing_tasks"] = missing;
  return out;
}

// Trains as rank `rank` of `size`; with size > 1 the ranks exchange their
// parts through files in `exchange_dir` (core::FileCollective), which every
// rank must see and which must be new for each training. Rank 0 writes the
// model into the staging folder.
void train(const nb::dict& options, nb::object progress, int rank, int size, const std::string& exchange_dir) {
  CreateIndexOptions o = to_options(options);
  attach_progress(o, progress);
  if (size < 1 || rank < 0 || rank >= size) throw nb::value_error("train: need 0 <= rank < size");
  if (size > 1 && exchange_dir.empty()) throw nb::value_error("train: size > 1 needs an exchange_dir");
  std::unique_ptr<pipeline::IndexBuild> b = open_build(o);
  b->set_progress(o.progress);
  Status st;
  {
    nb::gil_scoped_release nogil;
    core::ThreadPool pool(o.threads);
    if (size > 1) {
      core::FileCollective collective(exchange_dir, rank, size);
      st = b->train(collective, pool);
    } else {
      core::LocalCollective collective;
      st = b->train(collective, pool);
    }
  }
  ok_or_throw(st);
}

nb::dict build_task(const nb::dict& options, uint64_t task) {
  const CreateIndexOptions o = to_options(options);
  std::unique_ptr<pipeline::IndexBuild> b = open_build(o);
  if (!b->model_trained()) {
    throw_status(Status::InvalidArgument("the model is not trained yet in " + b->staging() + " (run train first)"));
  }
  Result<pipeline::TaskResult> r = [&] {
    nb::gil_scoped_release nogil;
    core::ThreadPool pool(o.threads);
    return b->build_task(task, pool, this_worker());
  }();
  pipeline::TaskResult t = value_or_throw(std::move(r));
  nb::dict out;
  out["task"] = t.task;
  out["rows"] = t.rows;
  out["busy_s"] = t.busy_s;
  out["worker"] = t.worker;
  out["reused"] = t.reused;
  return out;
}

nb::list missing_tasks(const nb::dict& options) {
  std::unique_ptr<pipeline::IndexBuild> b = open_build(to_options(options));
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
void discard(const nb::dict& options) { open_build(to_options(options))->discard(); }

std::vector<std::string> cleanup(const std::string& uri, const std::string& work_dir) {
  Result<std::vector<std::string>> r = [&] {
    nb::gil_scoped_release nogil;
    return cleanup_builds(uri, work_dir);
  }();
  return value_or_throw(std::move(r));
}

std::string inspect(const std::string& uri, std::optional<uint64_t> version) {
  Result<std::string> r = [&]() -> Result<std::string> {
    nb::gil_scoped_release nogil;
    LANCER_ASSIGN_OR_RETURN(auto ds, dataset::Dataset::open(uri, version));
    LANCER_ASSIGN_OR_RETURN(auto d, dataset::describe(*ds));
    return d.dump();
  }();
  return value_or_throw(std::move(r));
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
  corruption_error = new_exception(m, "CorruptionError", PyExc_Exception,
                                   "A Lance file's contents contradict the format.");
  nb::object nf_bases = nb::make_tuple(nb::handle(PyExc_ValueError), nb::handle(PyExc_FileNotFoundError));
  not_found_error = new_exception(m, "NotFoundError", nf_bases.ptr(),
                                  "A dataset, version, column, index or file does not exist.");
  conflict_error = new_exception(m, "CommitConflictError", PyExc_RuntimeError,
                                 "A concurrent writer's commit is incompatible with the index.");

  m.def("create_index", &create_index, "options"_a, "progress"_a = nb::none());
  m.def("plan", &plan, "options"_a);
  m.def("train", &train, "options"_a, "progress"_a = nb::none(), "rank"_a = 0, "size"_a = 1,
        "exchange_dir"_a = "");
  m.def("build_task", &build_task, "options"_a, "task"_a);
  m.def("missing_tasks", &missing_tasks, "options"_a);
  m.def("finalize", &finalize, "options"_a, "progress"_a = nb::none());
  m.def("discard", &discard, "options"_a);
  m.def("cleanup", &cleanup, "uri"_a, "work_dir"_a = "");
  m.def("inspect", &inspect, "uri"_a, "version"_a = nb::none());
  m.def("better_openblas_coretype", [] {
    const char* c = lancer::linalg::better_openblas_coretype();
    return c ? std::optional<std::string>(c) : std::nullopt;
  });
  m.def("hardware_threads", [] { return static_cast<int>(std::thread::hardware_concurrency()); });
}
