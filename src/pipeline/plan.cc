// Plan and open: resolve the options to build parameters, split the fragments
// into tasks, write (or reuse) build.json and hold the staging folder's lock.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>

#include "core/checksum.h"
#include "core/uuid.h"
#include "dataset/vector_stream.h"
#include "graph/hnsw.h"
#include "pipeline/partition_graphs.h"
#include "pipeline/index_build.h"
#include "pipeline/staging.h"
#include "quant/index_kind.h"
#include "quant/rq_model.h"
#include "storage/file_io.h"
#include "storage/read_npy.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;

// Tasks are whole fragments, consecutive small ones grouped up to this many rows.
constexpr uint64_t kMinTaskRows = 8192;
// Fragments an in-process plan starts fetching (each its first 16 MiB at most).
constexpr size_t kPrefetchedFragments = 4;

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s;
  for (uint64_t d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "[" + s + "]";
}

// `shape` exactly, or with its leading dimensions merged into one ([m * k, d] for [m, k, d]:
// the layout of Lance's own codebook column). Equal counts alone would take the values of
// [2, 256, 8] as [4, 256, 4].
bool accepted_shape(const std::vector<uint64_t>& have, const std::vector<uint64_t>& want) {
  if (have == want) return true;
  if (have.size() != 2 || want.size() < 2 || have.back() != want.back()) return false;
  uint64_t rows = 1;
  for (size_t i = 0; i + 1 < want.size(); ++i) rows *= want[i];
  return have[0] == rows;
}

Result<std::vector<float>> load_f32_npy(const std::string& path, std::vector<uint64_t> shape, const char* what,
                                        std::string* checksum) {
  LANCER_ASSIGN_OR_RETURN(core::NpyArray a, storage::read_npy(path));
  if (a.descr != "<f4") return Status::InvalidArgument(path + ": " + what + " must be float32, found " + a.descr);
  if (!accepted_shape(a.shape, shape)) {
    return Status::InvalidArgument(path + ": " + what + " must have shape " + shape_text(shape) + ", found " +
                                   shape_text(a.shape));
  }
  uint64_t have = 1;
  for (uint64_t d : a.shape) have *= d;
  std::vector<float> out(have);
  std::memcpy(out.data(), a.data.data(), have * 4);
  for (float x : out) {
    if (!std::isfinite(x)) return Status::InvalidArgument(path + ": " + what + " hold a non-finite value");
  }
  *checksum = hex64(core::fnv1a64(out.data(), out.size() * 4));
  return out;
}

// Tasks of consecutive fragments; with num_segments > 1, small enough that
// there are that many tasks when the fragments allow (a segment is a run of tasks).
std::vector<BuildTask> plan_tasks(const dataset::Dataset& ds, int num_segments) {
  uint64_t total = 0;
  for (const auto& f : ds.fragments()) total += f.physical_rows;
  // Independent of worker count, so the plan (and the bytes) never depend on it.
  uint64_t target = std::max<uint64_t>(kMinTaskRows, (total + 255) / 256);
  if (num_segments > 1) target = std::max<uint64_t>(1, std::min(target, total / uint64_t(num_segments)));
  std::vector<BuildTask> tasks;
  BuildTask cur;
  for (const auto& f : ds.fragments()) {
    cur.fragment_ids.push_back(f.id);
    cur.rows += f.physical_rows;
    if (cur.rows >= target) tasks.push_back(std::exchange(cur, {}));
  }
  if (!cur.fragment_ids.empty()) tasks.push_back(std::move(cur));
  return tasks;
}

}  // namespace

IndexBuild::~IndexBuild() {
  settle_early_aux_files();
  (void)settle_uploads();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status IndexBuild::settle_uploads(bool except_graphs) {
  std::lock_guard lock(uploads_mu_);
  std::deque<Upload> kept;
  for (auto& u : uploads_) {
    if (except_graphs && u.graph) {
      kept.push_back(std::move(u));
      continue;
    }
    Status st = u.done.get();
    if (upload_error_.ok()) upload_error_ = st;
  }
  uploads_ = std::move(kept);
  return upload_error_;
}

void IndexBuild::progress(const char* phase, uint64_t done, uint64_t total, bool finished) const {
  if (progress_) progress_(ProgressEvent{phase, done, total, finished});
}

std::string IndexBuild::task_path(uint64_t task, const char* suffix) const {
  char name[64];
  std::snprintf(name, sizeof name, "task-%06llu%s", static_cast<unsigned long long>(task), suffix);
  return storage::join_path(storage::join_path(staging_, "tasks"), name);
}

// Opens the dataset (at `version`, or the latest) and resolves the options to
// build parameters; validates everything that can be validated before writing.
Status IndexBuild::load_context(const CreateIndexOptions& o, std::optional<uint64_t> version) {
  options_ = o;
  if (o.sample_rate < 1 || o.max_iters < 1) return Status::InvalidArgument("sample_rate and max_iters must be >= 1");
  const auto kind = quant::parse_index_type(o.index_type);
  if (!kind.ok() || !quant::is_implemented(*kind)) {
    return Status::InvalidArgument("index type \"" + o.index_type + "\" is not supported (" +
                                   quant::join_type_names(quant::buildable_index_types()) + ")");
  }
  auto metric = simd::parse_metric(o.metric);
  if (!metric) return Status::InvalidArgument("metric \"" + o.metric + "\" is not supported (l2, cosine, dot)");
  const std::string root = dataset_root(o.uri);
  LANCER_RETURN_IF_ERROR(storage::configure(root, o.storage_options));
  if (!o.work_dir.empty()) LANCER_RETURN_IF_ERROR(storage::configure(o.work_dir, o.storage_options));
  if (!storage::is_object_store(root) && !storage::is_directory(root)) {  // Dataset::open names object stores' errors
    return Status::NotFound(root + " is not a directory (expected a Lance dataset)");
  }
  LANCER_ASSIGN_OR_RETURN(dataset_, dataset::Dataset::open(o.uri, version));
  LANCER_ASSIGN_OR_RETURN(column_, dataset_->vector_column(o.column));
  if (column_.type.element == lance::ElementType::kUInt8) {
    // Lance 14 builds uint8 vectors only as IVF_FLAT / IVF_HNSW_FLAT with the hamming metric.
    return Status::NotSupported("column " + o.column + " of " + o.uri +
                                " holds uint8 vectors: lancer indexes float32 and float16 vectors (Lance builds "
                                "uint8 only as IVF_FLAT or IVF_HNSW_FLAT with the hamming metric, which lancer "
                                "does not have)");
  }
  const size_t dim = column_.type.dim;
  uint64_t live_rows = 0;
  for (const auto& f : dataset_->fragments()) live_rows += f.physical_rows - std::min(f.physical_rows, f.deleted_rows);

  BuildParams& p = record_.params;
  p.column = o.column;
  p.name = o.name.empty() ? o.column + "_idx" : o.name;
  p.index_type = o.index_type;
  p.metric = simd::metric_name(*metric);
  p.num_partitions =
      o.num_partitions.value_or(std::max(1, static_cast<int>(std::lround(std::sqrt(double(live_rows))))));
  if (p.num_partitions < 1) return Status::InvalidArgument("num_partitions must be at least 1");
  if (kind->quantizer == quant::QuantizerKind::kPq) {
    p.num_sub_vectors = o.num_sub_vectors.value_or(dim % 16 == 0  ? static_cast<int>(dim / 16)
                                                   : dim % 8 == 0 ? static_cast<int>(dim / 8)
                                                                  : 0);
    if (p.num_sub_vectors <= 0 || dim % static_cast<size_t>(p.num_sub_vectors) != 0) {
      return Status::InvalidArgument((o.num_sub_vectors ? "num_sub_vectors " + std::to_string(*o.num_sub_vectors)
                                                        : std::string("num_sub_vectors")) +
                                     " must divide the dimension " + std::to_string(dim) + " of column " + o.column +
                                     (o.num_sub_vectors ? "" : " (the default needs dim % 8 == 0)"));
    }
    p.num_bits = o.num_bits.value_or(8);
    if (p.num_bits != 8 && p.num_bits != 4) {
      return Status::InvalidArgument("IVF_PQ num_bits must be 8 or 4, got " + std::to_string(p.num_bits));
    }
    if (p.num_bits == 4 && p.num_sub_vectors % 2 != 0) {
      return Status::InvalidArgument("4-bit PQ needs an even num_sub_vectors");
    }
  } else if (kind->quantizer == quant::QuantizerKind::kRq) {
    if (dim % 8 != 0) {
      return Status::InvalidArgument("vector dimension must be divisible by 8 for IVF_RQ (column " + o.column +
                                     " has " + std::to_string(dim) + ")");
    }
    p.num_bits = o.num_bits.value_or(quant::kRqDefaultBits);
    if (p.num_bits < quant::kRqMinBits || p.num_bits > quant::kRqMaxBits) {
      return Status::InvalidArgument("IVF_RQ num_bits must be in " + std::to_string(quant::kRqMinBits) + ".." +
                                     std::to_string(quant::kRqMaxBits) + ", got " + std::to_string(p.num_bits));
    }
  } else {
    // SQ stores 8-bit codes only; FLAT has no codes.
    if (kind->quantizer == quant::QuantizerKind::kSq && o.num_bits && *o.num_bits != 8) {
      return Status::InvalidArgument("IVF_SQ num_bits must be 8");
    }
    p.num_bits = 8;
  }
  if (kind->sub == quant::SubIndexKind::kHnsw) {
    p.m = o.m;
    p.ef_construction = o.ef_construction;
    p.max_level = o.max_level;
    LANCER_RETURN_IF_ERROR(graph::check_hnsw_params(hnsw_params(p)));
  }
  p.sample_rate = o.sample_rate;
  p.max_iters = o.max_iters;
  p.seed = o.seed;
  if (o.num_segments < 1) return Status::InvalidArgument("num_segments must be at least 1");
  p.num_segments = o.num_segments;
  if (!o.ivf_centroids.empty()) {
    LANCER_ASSIGN_OR_RETURN(supplied_centroids_, load_f32_npy(o.ivf_centroids, {uint64_t(p.num_partitions), dim},
                                                              "IVF centroids", &p.ivf_centroids_checksum));
  }
  if (!o.pq_codebook.empty() && kind->quantizer == quant::QuantizerKind::kPq) {
    const uint64_t m = static_cast<uint64_t>(p.num_sub_vectors), k = uint64_t{1} << p.num_bits;
    LANCER_ASSIGN_OR_RETURN(supplied_codebook_,
                            load_f32_npy(o.pq_codebook, {m, k, dim / m}, "PQ codebook", &p.pq_codebook_checksum));
  }
  if (!o.rabitq_model.empty() && kind->quantizer == quant::QuantizerKind::kRq) {
    LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, storage::read_whole_file(o.rabitq_model));
    supplied_rq_model_.assign(bytes.begin(), bytes.end());
    p.rabitq_model_checksum = hex64(core::fnv1a64(supplied_rq_model_.data(), supplied_rq_model_.size()));
    // Checked now (shape, num_bits) rather than after the IVF training.
    LANCER_ASSIGN_OR_RETURN(auto rq,
                            quant::rq_model_from_json(supplied_rq_model_, static_cast<uint32_t>(dim), o.rabitq_model));
    if (rq->num_bits != p.num_bits) {
      return Status::InvalidArgument(o.rabitq_model + ": rabitq_model num_bits=" + std::to_string(rq->num_bits) +
                                     " does not match requested num_bits=" + std::to_string(p.num_bits));
    }
  }
  staging_ = o.work_dir.empty() ? default_staging(dataset_->root(), p.name) : o.work_dir;
  record_.dataset = storage::is_object_store(dataset_->root())
                        ? dataset_->root()
                        : fs::weakly_canonical(fs::absolute(dataset_->root())).string();
  report_.uri = o.uri;
  report_.column = o.column;
  report_.name = p.name;
  report_.index_type = o.index_type;
  report_.metric = p.metric;
  report_.num_partitions = p.num_partitions;
  report_.num_sub_vectors = p.num_sub_vectors;
  report_.num_bits = kind->quantizer == quant::QuantizerKind::kFlat ? 0 : p.num_bits;
  return Status::OK();
}

Result<std::unique_ptr<IndexBuild>> IndexBuild::plan(const CreateIndexOptions& options, bool in_process) {
  auto b = std::unique_ptr<IndexBuild>(new IndexBuild());
  LANCER_RETURN_IF_ERROR(b->load_context(options, std::nullopt));
  b->in_process_ = in_process;
  b->background_writes_ = in_process;
  if (in_process) {
    // The next phase reads the first fragments (to sample, or to build when the model is
    // staged): on an object store their bytes arrive while the plan's round trips wait.
    for (size_t i = 0; i < std::min<size_t>(kPrefetchedFragments, b->dataset_->fragments().size()); ++i) {
      dataset::prefetch_fragment(*b->dataset_, b->column_, i);
    }
  }
  const std::string record_path = storage::join_path(b->staging_, "build.json");
  // Is there a record, and a folder at all: two round trips at once on an object store.
  auto folder_exists = std::async(std::launch::async, [dir = b->staging_] { return storage::is_directory(dir); });
  if (storage::file_size(record_path).ok()) {
    auto old = parse_build_record(record_path);
    auto committed = [&] {  // (an index list that cannot be read: not committed)
      auto named = names_index(*b->dataset_, old->uuid);
      return named.ok() && *named;
    };
    if (old.ok() && old->params == b->record_.params && old->dataset == b->record_.dataset &&
        (old->dataset_version == b->dataset_->version() || committed())) {
      // The same build, at the latest version, or committed already (the process stopped between
      // the commit and the folder's removal; that commit made a newer version): finalize
      // recognises its uuid and only removes the folder.
      b->record_ = *std::move(old);
      b->resumed_ = true;
    }
  }
  if (!b->resumed_ && folder_exists.get()) {
    // Stale: another version or other parameters. Never remove a running build's folder.
    int fd = -1;
    if (!storage::is_object_store(b->staging_)) {  // object stores have no locks
      const std::string lock = storage::join_path(b->staging_, "lock");
      fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return Status::Conflict("a build of index \"" + b->record_.params.name + "\" is running in " + b->staging_ +
                                " (another process holds its lock)");
      }
    }
    Status removed = storage::remove_tree(b->staging_);
    if (fd >= 0) ::close(fd);
    if (!removed.ok()) return removed.context("cannot remove stale staging folder " + b->staging_);
  }
  LANCER_RETURN_IF_ERROR(storage::make_directories(storage::join_path(b->staging_, "tasks"))
                             .context("cannot create staging folder " + b->staging_));
  LANCER_ASSIGN_OR_RETURN(b->lock_fd_, lock_shared(b->staging_));
  if (!b->resumed_) {
    b->record_.dataset_version = b->dataset_->version();
    b->record_.uuid = core::uuid_to_string(core::random_uuid_bytes());
    b->record_.tasks = plan_tasks(*b->dataset_, b->record_.params.num_segments);
    const size_t segments = std::min<size_t>(size_t(b->record_.params.num_segments), b->record_.tasks.size());
    if (segments > 1) {
      b->record_.segment_uuids.push_back(b->record_.uuid);
      while (b->record_.segment_uuids.size() < segments) {
        b->record_.segment_uuids.push_back(core::uuid_to_string(core::random_uuid_bytes()));
      }
    }
    LANCER_RETURN_IF_ERROR(b->upload(
        record_path, [record_path, text = record_to_text(b->record_)] { return write_record(record_path, text); }));
  }
  b->report_.uuid = b->record_.uuid;
  b->report_.read_version = b->record_.dataset_version;
  b->report_.fragments = b->dataset_->fragments().size();
  return b;
}

Result<std::unique_ptr<IndexBuild>> IndexBuild::open(const CreateIndexOptions& options) {
  auto b = std::unique_ptr<IndexBuild>(new IndexBuild());
  // The staging folder does not depend on the version: find it first.
  const std::string name = options.name.empty() ? options.column + "_idx" : options.name;
  const std::string staging =
      options.work_dir.empty() ? default_staging(dataset_root(options.uri), name) : options.work_dir;
  LANCER_RETURN_IF_ERROR(storage::configure(staging, options.storage_options));
  const std::string record_path = storage::join_path(staging, "build.json");
  if (!storage::file_size(record_path).ok()) {
    return Status::NotFound("no build of index \"" + name + "\" is planned in " + staging +
                            " (run `lancer plan` first)");
  }
  LANCER_ASSIGN_OR_RETURN(BuildRecord record, parse_build_record(record_path));
  LANCER_RETURN_IF_ERROR(b->load_context(options, record.dataset_version));
  if (record.dataset != b->record_.dataset) {
    return Status::InvalidArgument("the build in " + staging + " belongs to the dataset " + record.dataset + ", not " +
                                   b->record_.dataset);
  }
  if (!(b->record_.params == record.params)) {
    return Status::InvalidArgument("the build in " + staging +
                                   " was planned with other parameters: " + params_json(record.params).dump() +
                                   "; these resolve to " + params_json(b->record_.params).dump());
  }
  b->record_ = std::move(record);
  b->resumed_ = true;
  LANCER_ASSIGN_OR_RETURN(b->lock_fd_, lock_shared(staging));
  b->report_.uuid = b->record_.uuid;
  b->report_.read_version = b->record_.dataset_version;
  b->report_.fragments = b->dataset_->fragments().size();
  return b;
}

Result<bool> IndexBuild::names_index(const dataset::Dataset& ds, const std::string& uuid) {
  LANCER_ASSIGN_OR_RETURN(auto indices, ds.indices());
  for (const auto& idx : indices) {
    if (idx.uuid == uuid) return true;
  }
  return false;
}

void IndexBuild::discard() {
  settle_early_aux_files();
  (void)settle_uploads();  // nothing lands after the removal
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  // The record first: a process killed during the removal leaves a folder without one (which
  // the next plan replaces), never a record whose model or task files are partly gone.
  (void)storage::remove_file(storage::join_path(staging_, "build.json"));
  remove_staging(staging_);
}

}  // namespace lancer::pipeline
