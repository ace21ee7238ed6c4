#include "pipeline/index_build.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "pipeline/model_file.h"
#include "pipeline/sample.h"
#include "pipeline/spill.h"
#include "core/checksum.h"
#include "core/half.h"
#include "core/npy.h"
#include "core/process_stats.h"
#include "core/uuid.h"
#include "dataset/vector_stream.h"
#include "index.pb.h"
#include "lance/commit.h"
#include "lance/roaring.h"
#include "linalg/nearest.h"
#include "linalg/norms.h"
#include "simd/convert.h"
#include "quant/pq_codec.h"
#include "quant/registry.h"
#include "train/kmeans.h"
#include "train/random.h"
#include "train/train_codec.h"

namespace lancer::pipeline {

namespace {

const std::string kStagingPrefix = "build-";  // _lancer/build-<index name>/

namespace fs = std::filesystem;
using core::Clock;
using core::seconds_since;
using json = nlohmann::ordered_json;
using linalg::MatrixView;

constexpr size_t kRunBytes = 32u << 20;
// Tasks are whole fragments, consecutive small ones grouped up to this many rows.
constexpr uint64_t kMinTaskRows = 8192;
constexpr int kRecordVersion = 1;

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool finite_row(const float* v, size_t dim) {
  for (size_t j = 0; j < dim; ++j) {
    if (!std::isfinite(v[j])) return false;
  }
  return true;
}

// The batch's vectors as float32 (float16 converted).
const float* as_f32(const dataset::VectorBatch& b, std::vector<float>* scratch) {
  if (b.type.element == lance::ElementType::kFloat32) return reinterpret_cast<const float*>(b.values.data());
  simd::to_float32(b.values.data(), b.num_rows * b.type.dim, b.type.element, scratch);
  return scratch->data();
}

// Values as a float16 column stores them: the model is rounded once so that
// assignment and encoding use exactly what the index files record.
void round_to_half(std::vector<float>* v) {
  for (float& x : *v) x = core::round_to_half(x);
}

Result<std::vector<float>> load_f32_npy(const std::string& path, std::vector<uint64_t> shape, const char* what,
                                        std::string* checksum) {
  LANCER_ASSIGN_OR_RETURN(core::NpyArray a, core::read_npy(path));
  if (a.descr != "<f4") return Status::InvalidArgument(path + ": " + what + " must be float32, found " + a.descr);
  uint64_t want = 1, have = 1;
  for (uint64_t d : shape) want *= d;
  for (uint64_t d : a.shape) have *= d;
  if (want != have) {
    std::string s;
    for (uint64_t d : shape) s += (s.empty() ? "" : " x ") + std::to_string(d);
    return Status::InvalidArgument(path + ": " + what + " must have " + s + " values, found " + std::to_string(have));
  }
  std::vector<float> out(have);
  std::memcpy(out.data(), a.data.data(), have * 4);
  for (float x : out) {
    if (!std::isfinite(x)) return Status::InvalidArgument(path + ": " + what + " hold a non-finite value");
  }
  *checksum = hex64(core::fnv1a64(out.data(), out.size() * 4));
  return out;
}

json params_json(const BuildParams& p) {
  return json{{"column", p.column},
              {"name", p.name},
              {"index_type", p.index_type},
              {"metric", p.metric},
              {"num_partitions", p.num_partitions},
              {"num_sub_vectors", p.num_sub_vectors},
              {"num_bits", p.num_bits},
              {"sample_rate", p.sample_rate},
              {"max_iters", p.max_iters},
              {"num_segments", p.num_segments},
              {"seed", p.seed},
              {"ivf_centroids_checksum", p.ivf_centroids_checksum},
              {"pq_codebook_checksum", p.pq_codebook_checksum}};
}

BuildParams params_from_json(const nlohmann::json& j) {
  BuildParams p;
  p.column = j.at("column");
  p.name = j.at("name");
  p.index_type = j.at("index_type");
  p.metric = j.at("metric");
  p.num_partitions = j.at("num_partitions");
  p.num_sub_vectors = j.at("num_sub_vectors");
  p.num_bits = j.at("num_bits");
  p.sample_rate = j.at("sample_rate");
  p.max_iters = j.at("max_iters");
  p.num_segments = j.at("num_segments");
  p.seed = j.at("seed");
  p.ivf_centroids_checksum = j.at("ivf_centroids_checksum");
  p.pq_codebook_checksum = j.at("pq_codebook_checksum");
  return p;
}

std::string record_to_text(const BuildRecord& r) {
  json j;
  j["format"] = "lancer-build-record";
  j["format_version"] = kRecordVersion;
  j["dataset"] = r.dataset;
  j["params"] = params_json(r.params);
  j["dataset_version"] = r.dataset_version;
  j["uuid"] = r.uuid;
  j["segment_uuids"] = r.segment_uuids;
  json tasks = json::array();
  for (const auto& t : r.tasks) tasks.push_back({{"fragments", t.fragment_ids}, {"rows", t.rows}});
  j["tasks"] = tasks;
  std::string body = j.dump(1);
  return body;
}

Result<std::string> read_text(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(auto bytes, core::read_whole_file(path));
  return std::string(bytes.begin(), bytes.end());
}

// Writes `text` and a trailing checksum line to a temporary name, then renames:
// readers see the whole record or none.
Status write_record(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text << "\n#fnv1a64 " << hex64(core::fnv1a64(text)) << "\n";
    f.close();
    if (!f) return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::OK();
}

// A record written by write_record, checksum verified.
Result<nlohmann::json> read_record(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(std::string text, read_text(path));
  const size_t at = text.rfind("\n#fnv1a64 ");
  if (at == std::string::npos) return Status::Corruption(path + ": no checksum line (a torn write?)");
  const std::string body = text.substr(0, at);
  std::string sum = text.substr(at + 10);
  while (!sum.empty() && (sum.back() == '\n' || sum.back() == '\r')) sum.pop_back();
  if (sum != hex64(core::fnv1a64(body))) return Status::Corruption(path + ": checksum mismatch");
  try {
    return nlohmann::json::parse(body);
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
}

Result<BuildRecord> parse_build_record(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(auto j, read_record(path));
  try {
    if (j.at("format") != "lancer-build-record" || j.at("format_version") != kRecordVersion) {
      return Status::NotSupported(path + ": not a build record of format version " + std::to_string(kRecordVersion));
    }
    BuildRecord r;
    r.dataset = j.at("dataset");
    r.params = params_from_json(j.at("params"));
    r.dataset_version = j.at("dataset_version");
    r.uuid = j.at("uuid");
    r.segment_uuids = j.at("segment_uuids").get<std::vector<std::string>>();
    for (const auto& t : j.at("tasks")) {
      BuildTask task;
      task.fragment_ids = t.at("fragments").get<std::vector<uint64_t>>();
      task.rows = t.at("rows");
      r.tasks.push_back(std::move(task));
    }
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
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

::lance::index::pb::VectorIndexDetails index_details(const ivf::IndexModel& m) {
  ::lance::index::pb::VectorIndexDetails d;
  using D = ::lance::index::pb::VectorIndexDetails;
  d.set_metric_type(m.metric == simd::Metric::kCosine ? D::Cosine : m.metric == simd::Metric::kDot ? D::Dot : D::L2);
  switch (m.kind.quantizer) {
    case quant::QuantizerKind::kFlat: d.mutable_flat(); break;
    case quant::QuantizerKind::kSq: d.mutable_sq()->set_num_bits(8); break;
    case quant::QuantizerKind::kPq:
      d.mutable_pq()->set_num_bits(static_cast<uint32_t>(quant::pq_model(*m.codec)->num_bits));
      d.mutable_pq()->set_num_sub_vectors(static_cast<uint32_t>(quant::pq_model(*m.codec)->num_sub_vectors));
      break;
  }
  return d;
}

// Fault injection for the resume tests (docs/build-staging.md): with
// LANCER_FAULT_KILL_AT=train|task:N|merge the process SIGKILLs itself at that
// point (task:N: when starting its N+1-th task), on the rank named by
// LANCER_FAULT_RANK (any when unset).
void maybe_kill_at(const std::string& point) {
  static const char* at = std::getenv("LANCER_FAULT_KILL_AT");
  if (at == nullptr || point != at) return;
  const char* want_rank = std::getenv("LANCER_FAULT_RANK");
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (want_rank != nullptr && std::string(want_rank) != (rank ? rank : "0")) return;
  std::fprintf(stderr, "lancer: fault injection: killed at %s\n", point.c_str());
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
}

// LANCER_FAULT_TASK_DELAY_MS=M: every task sleeps M ms before it starts, so
// that tests can kill a worker or node while tasks are certainly running.
void maybe_delay_task() {
  static const char* ms = std::getenv("LANCER_FAULT_TASK_DELAY_MS");
  if (ms != nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(ms)));
}

std::string default_staging(const std::string& root, const std::string& name) {
  return (fs::path(root) / "_lancer" / (kStagingPrefix + name)).string();
}

std::string dataset_root(const std::string& uri) { return uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri; }

// Removes `dir` and its parent `_lancer` folder when that is left empty.
void remove_staging(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  const fs::path parent = fs::path(dir).parent_path();
  if (parent.filename() == "_lancer") fs::remove(parent, ec);  // only if empty
}

}  // namespace

IndexBuild::~IndexBuild() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void IndexBuild::progress(const char* phase, uint64_t done, uint64_t total, bool finished) const {
  if (progress_) progress_(ProgressEvent{phase, done, total, finished});
}

std::string IndexBuild::task_path(uint64_t task, const char* suffix) const {
  char name[64];
  std::snprintf(name, sizeof name, "task-%06llu%s", static_cast<unsigned long long>(task), suffix);
  return (fs::path(staging_) / "tasks" / name).string();
}

// Opens the dataset (at `version`, or the latest) and resolves the options to
// build parameters; validates everything that can be validated before writing.
Status IndexBuild::load_context(const CreateIndexOptions& o, std::optional<uint64_t> version) {
  options_ = o;
  if (o.num_bits != 8 && o.num_bits != 4) return Status::InvalidArgument("num_bits must be 8 or 4");
  if (o.sample_rate < 1 || o.max_iters < 1) return Status::InvalidArgument("sample_rate and max_iters must be >= 1");
  const auto kind = quant::parse_index_type(o.index_type);
  if (!kind.ok() || !quant::is_implemented(*kind)) {
    return Status::InvalidArgument("index type \"" + o.index_type + "\" is not supported (IVF_FLAT, IVF_SQ or IVF_PQ)");
  }
  auto metric = simd::parse_metric(o.metric);
  if (!metric) return Status::InvalidArgument("metric \"" + o.metric + "\" is not supported (l2, cosine, dot)");
  const std::string root = dataset_root(o.uri);
  if (!core::is_directory(root)) return Status::NotFound(root + " is not a directory (expected a Lance dataset)");
  LANCER_ASSIGN_OR_RETURN(dataset_, dataset::Dataset::open(o.uri, version));
  LANCER_ASSIGN_OR_RETURN(column_, dataset_->vector_column(o.column));
  if (column_.type.element == lance::ElementType::kUInt8) {
    return Status::NotSupported("column " + o.column + " holds uint8 vectors; lancer indexes float32 and float16 "
                                "vectors so far");
  }
  const size_t dim = column_.type.dim;
  uint64_t live_rows = 0;
  for (const auto& f : dataset_->fragments()) live_rows += f.physical_rows - std::min(f.physical_rows, f.deleted_rows);

  BuildParams& p = record_.params;
  p.column = o.column;
  p.name = o.name.empty() ? o.column + "_idx" : o.name;
  p.index_type = o.index_type;
  p.metric = simd::metric_name(*metric);
  p.num_partitions = o.num_partitions.value_or(std::max(1, static_cast<int>(std::lround(std::sqrt(double(live_rows))))));
  if (p.num_partitions < 1) return Status::InvalidArgument("num_partitions must be at least 1");
  if (kind->quantizer == quant::QuantizerKind::kPq) {
    p.num_sub_vectors = o.num_sub_vectors.value_or(dim % 16 == 0  ? static_cast<int>(dim / 16)
                                                   : dim % 8 == 0 ? static_cast<int>(dim / 8)
                                                                  : 0);
    if (p.num_sub_vectors <= 0 || dim % static_cast<size_t>(p.num_sub_vectors) != 0) {
      return Status::InvalidArgument("num_sub_vectors must divide the dimension " + std::to_string(dim) +
                                     (o.num_sub_vectors ? "" : " (the default needs dim % 8 == 0)"));
    }
    if (o.num_bits == 4 && p.num_sub_vectors % 2 != 0) {
      return Status::InvalidArgument("4-bit PQ needs an even num_sub_vectors");
    }
    p.num_bits = o.num_bits;
  } else {
    p.num_bits = 8;
  }
  p.sample_rate = o.sample_rate;
  p.max_iters = o.max_iters;
  p.seed = o.seed;
  if (o.num_segments < 1) return Status::InvalidArgument("num_segments must be at least 1");
  p.num_segments = o.num_segments;
  if (!o.ivf_centroids.empty()) {
    LANCER_ASSIGN_OR_RETURN(supplied_centroids_,
                            load_f32_npy(o.ivf_centroids, {uint64_t(p.num_partitions), dim}, "IVF centroids",
                                         &p.ivf_centroids_checksum));
  }
  if (!o.pq_codebook.empty() && kind->quantizer == quant::QuantizerKind::kPq) {
    const uint64_t m = static_cast<uint64_t>(p.num_sub_vectors), k = uint64_t{1} << p.num_bits;
    LANCER_ASSIGN_OR_RETURN(supplied_codebook_, load_f32_npy(o.pq_codebook, {m, k, dim / m}, "PQ codebook",
                                                             &p.pq_codebook_checksum));
  }
  staging_ = o.work_dir.empty() ? default_staging(dataset_->root(), p.name) : o.work_dir;
  record_.dataset = fs::weakly_canonical(fs::absolute(dataset_->root())).string();
  report_.uri = o.uri;
  report_.column = o.column;
  report_.name = p.name;
  report_.index_type = o.index_type;
  report_.metric = p.metric;
  report_.num_partitions = p.num_partitions;
  report_.num_sub_vectors = p.num_sub_vectors;
  return Status::OK();
}

Result<std::unique_ptr<IndexBuild>> IndexBuild::plan(const CreateIndexOptions& options) {
  auto b = std::unique_ptr<IndexBuild>(new IndexBuild());
  LANCER_RETURN_IF_ERROR(b->load_context(options, std::nullopt));
  const std::string record_path = (fs::path(b->staging_) / "build.json").string();
  if (core::path_exists(record_path)) {
    auto old = parse_build_record(record_path);
    if (old.ok() && old->params == b->record_.params && old->dataset == b->record_.dataset &&
        old->dataset_version == b->dataset_->version()) {
      b->record_ = *std::move(old);
      b->resumed_ = true;
    }
  }
  if (!b->resumed_ && core::path_exists(b->staging_)) {
    // Stale: another version or other parameters. Never remove a running build's folder.
    const std::string lock = (fs::path(b->staging_) / "lock").string();
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status::Conflict("a build of index \"" + b->record_.params.name + "\" is running in " + b->staging_ +
                              " (another process holds its lock)");
    }
    std::error_code ec;
    fs::remove_all(b->staging_, ec);
    if (fd >= 0) ::close(fd);
    if (ec) return Status::IOError("cannot remove stale staging folder " + b->staging_ + ": " + ec.message());
  }
  std::error_code ec;
  fs::create_directories(fs::path(b->staging_) / "tasks", ec);
  if (ec) return Status::IOError("cannot create staging folder " + b->staging_ + ": " + ec.message());
  b->lock_fd_ = ::open((fs::path(b->staging_) / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (b->lock_fd_ < 0 || ::flock(b->lock_fd_, LOCK_SH) != 0) {
    return Status::IOError("cannot lock " + b->staging_ + "/lock: " + std::strerror(errno));
  }
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
    LANCER_RETURN_IF_ERROR(write_record(record_path, record_to_text(b->record_)));
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
  const std::string record_path = (fs::path(staging) / "build.json").string();
  if (!core::path_exists(record_path)) {
    return Status::NotFound("no build of index \"" + name + "\" is planned in " + staging + " (run `lancer plan` first)");
  }
  LANCER_ASSIGN_OR_RETURN(BuildRecord record, parse_build_record(record_path));
  LANCER_RETURN_IF_ERROR(b->load_context(options, record.dataset_version));
  if (record.dataset != b->record_.dataset) {
    return Status::InvalidArgument("the build in " + staging + " belongs to the dataset " + record.dataset + ", not " +
                                   b->record_.dataset);
  }
  if (!(b->record_.params == record.params)) {
    return Status::InvalidArgument("the build in " + staging + " was planned with other parameters: " +
                                   params_json(record.params).dump() + "; these resolve to " +
                                   params_json(b->record_.params).dump());
  }
  b->record_ = std::move(record);
  b->resumed_ = true;
  b->lock_fd_ = ::open((fs::path(staging) / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (b->lock_fd_ < 0 || ::flock(b->lock_fd_, LOCK_SH) != 0) {
    return Status::IOError("cannot lock " + staging + "/lock: " + std::strerror(errno));
  }
  b->report_.uuid = b->record_.uuid;
  b->report_.read_version = b->record_.dataset_version;
  b->report_.fragments = b->dataset_->fragments().size();
  return b;
}

void IndexBuild::discard() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
  remove_staging(staging_);
}

bool IndexBuild::model_trained() const { return core::path_exists((fs::path(staging_) / "model.done").string()); }

Result<std::shared_ptr<const ivf::IndexModel>> IndexBuild::model() {
  if (model_) return model_;
  const std::string path = (fs::path(staging_) / "model.bin").string();
  LANCER_ASSIGN_OR_RETURN(auto done, read_record((fs::path(staging_) / "model.done").string()));
  LANCER_ASSIGN_OR_RETURN(std::string bytes, read_text(path));
  LANCER_ASSIGN_OR_RETURN(model_, parse_model(bytes, path));
  model_checksum_ = model_checksum(bytes);
  if (done.value("checksum", std::string()) != hex64(model_checksum_)) {
    return Status::Corruption(path + ": does not match the checksum in model.done");
  }
  report_.sample_s = done.value("sample_s", 0.0);
  report_.train_ivf_s = done.value("train_ivf_s", 0.0);
  report_.train_quantizer_s = done.value("train_quantizer_s", 0.0);
  return model_;
}

Status IndexBuild::scan_sample(const std::vector<uint64_t>& fragment_ids, uint64_t rows, core::Executor& executor,
                               SampleCollector& collector) const {
  const size_t dim = column_.type.dim;
  std::mutex mu;  // guards collector, first_error and the progress count
  std::atomic<uint64_t> bar{collector.bar()};
  Status first_error;
  uint64_t scanned = 0;
  executor.parallel_for(fragment_ids.size(), 1, [&](size_t f0, size_t f1) {
    dataset::StreamOptions so;
    so.fragment_ids.assign(fragment_ids.begin() + static_cast<std::ptrdiff_t>(f0),
                           fragment_ids.begin() + static_cast<std::ptrdiff_t>(f1));
    Status st;
    auto stream = dataset::VectorStream::open(dataset_, record_.params.column, so);
    if (!stream.ok()) st = stream.status();
    dataset::VectorBatch batch;
    std::vector<float> scratch;
    std::vector<std::pair<uint64_t, size_t>> wanted;  // (hash, row in batch)
    uint64_t seen = 0;
    while (st.ok()) {
      auto more = (*stream)->next(&batch);
      if (!more.ok() || !*more) {
        st = more.status();
        break;
      }
      // Hash first: most rows are refused before their values are checked
      // or copied, and the lock is taken once per batch.
      const float* v = as_f32(batch, &scratch);
      wanted.clear();
      const uint64_t now = bar.load(std::memory_order_relaxed);
      for (size_t i = 0; i < batch.num_rows; ++i) {
        const uint64_t h = collector.hash_of(batch.row_ids[i]);
        if (h < now && finite_row(v + i * dim, dim)) wanted.emplace_back(h, i);
      }
      const auto& stats = (*stream)->stats();
      const uint64_t total = stats.rows + stats.null_rows + stats.deleted_rows;
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& [h, i] : wanted) collector.offer_hashed(h, batch.row_ids[i], v + i * dim);
      bar.store(collector.bar(), std::memory_order_relaxed);
      scanned += total - seen;
      seen = total;
      progress("sample", scanned, rows);
      if (!first_error.ok()) break;
    }
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (first_error.ok()) first_error = st;
    }
  });
  return first_error;
}

Status IndexBuild::train(core::Collective& collective, core::Executor& pool) {
  // Rank 0 decides, so that no rank skips the collective calls the others make.
  std::string trained(1, model_trained() ? '1' : '0');
  LANCER_RETURN_IF_ERROR(collective.broadcast(&trained, 0));
  if (trained[0] == '1') return model().status();
  const BuildParams& p = record_.params;
  LANCER_ASSIGN_OR_RETURN(const quant::IndexKind kind, quant::parse_index_type(p.index_type));
  const simd::Metric metric = *simd::parse_metric(p.metric);
  const bool half = column_.type.element == lance::ElementType::kFloat16;
  const size_t dim = column_.type.dim;
  auto model = std::make_shared<ivf::IndexModel>();
  model->kind = kind;
  model->metric = metric;
  model->column = column_.type;
  model->num_partitions = static_cast<uint32_t>(p.num_partitions);

  // Sample: this rank's share of the tasks, then every share, merged.
  // Training work is split over the ranks; the model is the one-process model.
  core::Collective* distributed = collective.size() > 1 ? &collective : nullptr;
  auto t = Clock::now();
  const bool need_ivf_sample = supplied_centroids_.empty();
  const bool need_q_sample = quant::quantizer(kind.quantizer).trains_on_sample && supplied_codebook_.empty();
  const size_t ivf_sample = need_ivf_sample ? size_t(p.sample_rate) * size_t(p.num_partitions) : 0;
  const size_t q_sample = need_q_sample ? size_t(p.sample_rate) << p.num_bits : 0;
  const size_t want = std::max(ivf_sample, q_sample);
  std::vector<float> sample;
  size_t sample_rows = 0;
  if (want > 0) {
    SampleCollector collector(want, dim, p.seed);
    const auto [t0, t1] = core::owned_range(record_.tasks.size(), collective.rank(), collective.size());
    std::vector<uint64_t> fragment_ids;
    for (size_t i = t0; i < t1; ++i) {
      fragment_ids.insert(fragment_ids.end(), record_.tasks[i].fragment_ids.begin(),
                          record_.tasks[i].fragment_ids.end());
    }
    uint64_t share_rows = 0;
    for (size_t i = t0; i < t1; ++i) share_rows += record_.tasks[i].rows;
    collector.reserve(share_rows);
    LANCER_RETURN_IF_ERROR(scan_sample(fragment_ids, share_rows, pool, collector));
    if (collective.size() > 1) {
      // Hashes first, then only the rows that make the global sample: one
      // sample moves in all, however many ranks there are.
      LANCER_ASSIGN_OR_RETURN(auto hash_shares, collective.all_gather(collector.serialize_hashes()));
      LANCER_ASSIGN_OR_RETURN(const uint64_t max_hash, sample_threshold(hash_shares, want));
      std::vector<std::string>().swap(hash_shares);
      std::string mine = collector.serialize(max_hash);
      collector = SampleCollector(want, dim, p.seed);  // frees this rank's share before the gather
      LANCER_ASSIGN_OR_RETURN(auto shares, collective.all_gather(std::move(mine)));
      size_t offered = 0;
      for (const auto& s : shares) offered += s.size() / (16 + dim * 4);
      collector.reserve(offered);
      for (auto& s : shares) {
        LANCER_RETURN_IF_ERROR(collector.merge(s));
        std::string().swap(s);
      }
    }
    sample_rows = collector.rows();
    sample = collector.take_sorted();
    progress("sample", 1, 1, true);
    if (sample_rows == 0) {
      return Status::InvalidArgument("column " + p.column + " has no non-null finite vectors to index");
    }
  }
  maybe_kill_at("train");
  MatrixView<float> sample_view(sample.data(), sample_rows, dim);
  if (metric == simd::Metric::kCosine) linalg::normalize_rows(sample_view, pool);
  report_.sample_s = seconds_since(t);

  t = Clock::now();
  progress("train IVF", 0, 0);
  std::shared_ptr<const train::KMeansModel> kmeans;
  if (!supplied_centroids_.empty()) {
    LANCER_ASSIGN_OR_RETURN(kmeans, train::kmeans_from_centroids(supplied_centroids_, static_cast<int>(dim), metric));
  } else {
    if (sample_rows < size_t(p.num_partitions)) {
      return Status::InvalidArgument("num_partitions " + std::to_string(p.num_partitions) + " exceeds the " +
                                     std::to_string(sample_rows) + " vectors available to train on");
    }
    train::KMeansParams kp;
    kp.num_clusters = p.num_partitions;
    kp.max_iters = p.max_iters;
    kp.seed = p.seed;
    kp.metric = metric;
    LANCER_ASSIGN_OR_RETURN(kmeans, train::train_kmeans(MatrixView<const float>(sample_view), kp, pool, distributed));
  }
  model->centroids = kmeans->centroids;
  if (half) {
    round_to_half(&model->centroids);
    LANCER_ASSIGN_OR_RETURN(kmeans, train::kmeans_from_centroids(model->centroids, static_cast<int>(dim), metric));
  }
  model->loss = kmeans->loss;
  report_.train_ivf_s = seconds_since(t);
  progress("train IVF", 1, 1, true);

  t = Clock::now();
  const bool quantized = kind.quantizer != quant::QuantizerKind::kFlat;
  if (quantized) progress("train PQ/SQ", 0, 0);
  train::CodecTrainParams cp;
  cp.kind = kind.quantizer;
  cp.metric = metric;
  cp.half = half;
  cp.num_sub_vectors = p.num_sub_vectors;
  cp.num_bits = p.num_bits;
  cp.max_iters = p.max_iters;
  cp.seed = p.seed;
  cp.supplied_codebook = supplied_codebook_;
  LANCER_ASSIGN_OR_RETURN(model->codec, train::train_codec(cp, sample_view, q_sample, *kmeans, pool, distributed));
  report_.train_quantizer_s = seconds_since(t);
  if (quantized) progress("train PQ/SQ", 1, 1, true);
  LANCER_RETURN_IF_ERROR(model->validate());

  // Every rank continues with rank 0's model, bit for bit, even where ranks
  // computed differently (other SIMD levels on other hosts).
  std::string bytes = serialize_model(*model);
  LANCER_RETURN_IF_ERROR(collective.broadcast(&bytes, 0));
  LANCER_ASSIGN_OR_RETURN(model_, parse_model(bytes, "the model broadcast by rank 0"));
  model_checksum_ = model_checksum(bytes);
  if (collective.rank() == 0) {
    const std::string path = (fs::path(staging_) / "model.bin").string(), tmp = path + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      f.close();
      if (!f) return Status::IOError("cannot write " + tmp);
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) return Status::IOError("cannot rename " + tmp + ": " + ec.message());
    json done{{"checksum", hex64(model_checksum_)},
              {"bytes", bytes.size()},
              {"sample_rows", sample_rows},
              {"sample_s", report_.sample_s},
              {"train_ivf_s", report_.train_ivf_s},
              {"train_quantizer_s", report_.train_quantizer_s}};
    LANCER_RETURN_IF_ERROR(write_record((fs::path(staging_) / "model.done").string(), done.dump(1)));
  }
  return Status::OK();
}

Result<TaskResult> IndexBuild::read_task_done(uint64_t task) const {
  LANCER_ASSIGN_OR_RETURN(auto j, read_record(task_path(task, ".done")));
  TaskResult r;
  try {
    r.task = j.at("task");
    r.rows = j.at("rows");
    r.null_rows = j.at("null_rows");
    r.deleted_rows = j.at("deleted_rows");
    r.skipped_nonfinite = j.at("skipped_nonfinite");
    r.bytes = j.at("bytes");
    r.busy_s = j.at("busy_s");
    r.worker = j.at("worker");
    if (j.at("model_checksum") != hex64(model_checksum_) || r.task != task) {
      return Status::Corruption(task_path(task, ".done") + ": recorded for another model or task");
    }
  } catch (const std::exception& e) {
    return Status::Corruption(task_path(task, ".done") + ": " + e.what());
  }
  std::error_code ec;
  const auto size = fs::file_size(task_path(task, ".run"), ec);
  if (ec || size != r.bytes) return Status::Corruption(task_path(task, ".run") + ": missing or of the wrong size");
  return r;
}

bool IndexBuild::task_done(uint64_t task) const {
  return model_ != nullptr && core::path_exists(task_path(task, ".done")) && read_task_done(task).ok();
}

std::vector<uint64_t> IndexBuild::missing_tasks() const {
  std::vector<uint64_t> missing;
  for (uint64_t i = 0; i < record_.tasks.size(); ++i) {
    if (!task_done(i)) missing.push_back(i);
  }
  return missing;
}

Result<TaskResult> IndexBuild::build_task(uint64_t task, core::Executor& pool, const std::string& worker) {
  if (task >= record_.tasks.size()) {
    return Status::InvalidArgument("task " + std::to_string(task) + " does not exist (the plan has " +
                                   std::to_string(record_.tasks.size()) + " tasks)");
  }
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  if (task_done(task)) {
    auto done = read_task_done(task);
    if (done.ok()) {
      done->reused = true;
      return done;
    }  // damaged: rebuild it
  }
  static int tasks_started = 0;
  maybe_kill_at("task:" + std::to_string(tasks_started++));
  maybe_delay_task();
  const auto t = Clock::now();
  const size_t dim = column_.type.dim;
  const simd::Metric metric = model->metric;
  LANCER_ASSIGN_OR_RETURN(auto kmeans, train::kmeans_from_centroids(model->centroids, static_cast<int>(dim), metric));
  const size_t rb = model->storage_row_bytes();
  const std::string tmp = task_path(task, ".run") + ".tmp." + std::to_string(::getpid());
  LANCER_ASSIGN_OR_RETURN(auto spill, SpillFile::create(tmp, model->num_partitions, rb));
  TaskResult result;
  result.task = task;
  result.worker = worker;
  dataset::StreamOptions so;
  so.fragment_ids = record_.tasks[task].fragment_ids;
  // A batch that fits one block of the assignment keeps one core busy (4 MiB
  // is 512 rows of 2048-d vectors): then batches hold one block per thread.
  // Batches only cut the stream; the spill's row order, and so the index bytes,
  // do not depend on them. (Growing 4 MiB batches that already held two
  // blocks, at 1024-d, made phase 2 ~20 % slower.)
  const size_t row_bytes = column_.type.row_bytes();
  const size_t block = linalg::nearest_row_block(model->num_partitions);
  if (so.batch_bytes / row_bytes <= block) {
    const size_t threads = static_cast<size_t>(std::max(1, pool.num_threads()));
    so.batch_bytes = std::max(so.batch_bytes, std::min(threads * block * row_bytes, size_t{64} << 20));
  }
  LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(dataset_, record_.params.column, so));
  dataset::VectorBatch batch;
  std::vector<float> x, scratch;
  std::vector<uint32_t> labels;
  std::vector<uint64_t> ids;
  std::vector<uint8_t> codes;
  Status status;
  for (;;) {
    auto more = stream->next(&batch);
    if (!more.ok() || !*more) {
      status = more.status();
      break;
    }
    const float* v = as_f32(batch, &scratch);
    x.clear();
    ids.clear();
    for (size_t i = 0; i < batch.num_rows; ++i) {
      if (!finite_row(v + i * dim, dim)) {
        ++result.skipped_nonfinite;
        continue;
      }
      x.insert(x.end(), v + i * dim, v + (i + 1) * dim);
      ids.push_back(batch.row_ids[i]);
    }
    const size_t n = ids.size();
    if (n == 0) continue;
    MatrixView<float> xv(x.data(), n, dim);
    if (metric == simd::Metric::kCosine) linalg::normalize_rows(xv, pool);
    labels.resize(n);
    status = train::assign_partitions(*kmeans, xv, labels, {}, pool);
    if (!status.ok()) break;
    codes.resize(n * rb);
    status = model->codec->encode(MatrixView<const float>(xv), labels, model->centroids.data(), metric, codes, pool);
    const uint8_t* storage = codes.data();
    if (!status.ok()) break;
    for (size_t i = 0; i < n; ++i) spill->add(labels[i], ids[i], storage + i * rb);
    status = spill->maybe_flush(kRunBytes);
    if (!status.ok()) break;
    result.rows += n;
  }
  Result<uint64_t> bytes = status.ok() ? spill->finish() : Result<uint64_t>(status);
  spill.reset();
  std::error_code ec;
  if (!bytes.ok()) {
    fs::remove(tmp, ec);
    return bytes.status();
  }
  result.null_rows = stream->stats().null_rows;
  result.deleted_rows = stream->stats().deleted_rows;
  result.bytes = *bytes;
  result.busy_s = seconds_since(t);
  fs::rename(tmp, task_path(task, ".run"), ec);
  if (ec) return Status::IOError("cannot rename " + tmp + ": " + ec.message());
  json done{{"task", task},
            {"rows", result.rows},
            {"null_rows", result.null_rows},
            {"deleted_rows", result.deleted_rows},
            {"skipped_nonfinite", result.skipped_nonfinite},
            {"bytes", result.bytes},
            {"busy_s", result.busy_s},
            {"worker", worker},
            {"model_checksum", hex64(model_checksum_)}};
  LANCER_RETURN_IF_ERROR(write_record(task_path(task, ".done"), done.dump(1)));
  return result;
}

Result<CreateIndexReport> IndexBuild::finalize(core::Executor&) {
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  const std::string& uuid = record_.uuid;
  // Already committed (a rerun after a crash between commit and cleanup)?
  LANCER_ASSIGN_OR_RETURN(auto latest, dataset::Dataset::open(options_.uri));
  LANCER_ASSIGN_OR_RETURN(auto existing, latest->indices());
  for (const auto& idx : existing) {
    if (idx.uuid == uuid) {
      report_.version = latest->version();
      discard();
      return report_;
    }
  }
  const auto missing = missing_tasks();
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + std::to_string(missing[i]);
    if (missing.size() > 20) list += ", ...";
    return Status::InvalidArgument(std::to_string(missing.size()) + " of " + std::to_string(record_.tasks.size()) +
                                   " tasks are not built yet in " + staging_ + ": " + list +
                                   " (run `lancer build-task --task N` for each)");
  }
  // Sum the task records; open every spill.
  std::vector<std::unique_ptr<SpillFile>> spills;
  std::map<std::string, std::pair<uint64_t, double>> per_worker;
  report_.rows = report_.null_rows = report_.deleted_rows = report_.skipped_nonfinite = 0;
  double busy = 0;
  for (uint64_t i = 0; i < record_.tasks.size(); ++i) {
    LANCER_ASSIGN_OR_RETURN(TaskResult r, read_task_done(i));
    report_.rows += r.rows;
    report_.null_rows += r.null_rows;
    report_.deleted_rows += r.deleted_rows;
    report_.skipped_nonfinite += r.skipped_nonfinite;
    busy += r.busy_s;
    auto& w = per_worker[r.worker];
    w.first += 1;
    w.second += r.busy_s;
    LANCER_ASSIGN_OR_RETURN(auto s,
                            SpillFile::open(task_path(i, ".run"), model->num_partitions, model->storage_row_bytes()));
    spills.push_back(std::move(s));
  }
  if (report_.build_s == 0) report_.build_s = busy;
  report_.workers.clear();
  for (const auto& [name, w] : per_worker) report_.workers.push_back({name, w.first, w.second});

  if (report_.rows == 0) {
    return Status::InvalidArgument("column " + record_.params.column + " has no non-null finite vectors to index");
  }
  // Segments: contiguous groups of tasks balanced by rows; one unless
  // num_segments > 1 (then each is an index of the same name over its fragments).
  std::vector<std::string> uuids = record_.segment_uuids;
  if (uuids.empty()) uuids.push_back(uuid);
  std::vector<size_t> seg_begin{0};
  {
    uint64_t total = 0, acc = 0;
    for (const auto& task : record_.tasks) total += task.rows;
    for (size_t i = 0; i < record_.tasks.size() && seg_begin.size() < uuids.size(); ++i) {
      acc += record_.tasks[i].rows;
      const size_t left_tasks = record_.tasks.size() - (i + 1), left_segments = uuids.size() - seg_begin.size();
      if (left_tasks >= left_segments && (acc * uuids.size() >= total * seg_begin.size() || left_tasks == left_segments)) {
        seg_begin.push_back(i + 1);
      }
    }
    seg_begin.push_back(record_.tasks.size());
  }

  auto t = Clock::now();
  const fs::path root(dataset_->root());
  const fs::path indices_dir = root / "_indices";
  const bool had_indices_dir = core::is_directory(indices_dir.string());
  std::error_code ec;
  auto fail = [&](Status s) {
    for (const auto& u : uuids) fs::remove_all(indices_dir / u, ec);
    if (!had_indices_dir) fs::remove(indices_dir, ec);
    return s;
  };
  lance::CreateIndexCommit commit;
  commit.root = dataset_->root();
  commit.read_version = record_.dataset_version;
  commit.replace = options_.replace;
  const uint64_t created_at = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  for (size_t seg = 0; seg < uuids.size(); ++seg) {
    const fs::path index_dir = indices_dir / uuids[seg];
    fs::remove_all(index_dir, ec);  // a merge interrupted before
    fs::create_directories(index_dir, ec);
    if (ec) return fail(Status::IOError("cannot create " + index_dir.string() + ": " + ec.message()));
    const fs::path aux_path = index_dir / "auxiliary.idx", idx_path = index_dir / "index.idx";
    auto aux = ivf::AuxiliaryFileWriter::create(aux_path.string(), model);
    if (!aux.ok()) return fail(aux.status());
    std::vector<uint64_t> part_ids;
    std::vector<uint8_t> part_storage;
    for (uint32_t p = 0; p < model->num_partitions; ++p) {
      part_ids.clear();
      part_storage.clear();
      for (size_t i = seg_begin[seg]; i < seg_begin[seg + 1]; ++i) {
        Status st = spills[i]->append_partition(p, &part_ids, &part_storage);
        if (!st.ok()) return fail(st);
      }
      Status st = (*aux)->write_partition(p, part_ids.data(), part_storage.data(), part_ids.size());
      if (!st.ok()) return fail(st);
      if (p % 64 == 0) progress("merge", seg * model->num_partitions + p, uuids.size() * model->num_partitions);
      if (p == model->num_partitions / 2) maybe_kill_at("merge");
    }
    auto aux_size = (*aux)->finish();
    if (!aux_size.ok()) return fail(aux_size.status());
    auto idx_size = ivf::write_index_file(idx_path.string(), *model);
    if (!idx_size.ok()) return fail(idx_size.status());

    ::lance::table::IndexMetadata idx;
    const std::string uuid_bytes = core::uuid_from_string(uuids[seg]);
    if (uuid_bytes.empty()) return fail(Status::Corruption(staging_ + "/build.json: bad uuid " + uuids[seg]));
    idx.mutable_uuid()->set_uuid(uuid_bytes);
    idx.add_fields(column_.field_id);
    idx.set_name(record_.params.name);
    idx.set_dataset_version(record_.dataset_version);
    std::vector<uint32_t> frag_ids;
    if (uuids.size() == 1) {
      for (const auto& f : dataset_->fragments()) frag_ids.push_back(static_cast<uint32_t>(f.id));
    } else {
      for (size_t i = seg_begin[seg]; i < seg_begin[seg + 1]; ++i) {
        for (uint64_t f : record_.tasks[i].fragment_ids) frag_ids.push_back(static_cast<uint32_t>(f));
      }
      std::sort(frag_ids.begin(), frag_ids.end());
    }
    idx.set_fragment_bitmap(lance::roaring_encode(frag_ids));
    idx.mutable_index_details()->set_type_url("/lance.index.pb.VectorIndexDetails");
    idx.mutable_index_details()->set_value(index_details(*model).SerializeAsString());
    idx.set_index_version(1);
    idx.set_created_at(created_at);
    auto* f1 = idx.add_files();
    f1->set_path("auxiliary.idx");
    f1->set_size_bytes(*aux_size);
    auto* f2 = idx.add_files();
    f2->set_path("index.idx");
    f2->set_size_bytes(*idx_size);
    if (seg == 0) {
      commit.index = std::move(idx);
    } else {
      commit.more_segments.push_back(std::move(idx));
    }
  }
  progress("merge", 1, 1, true);
  spills.clear();
  report_.merge_s = seconds_since(t);
  report_.segments = uuids.size();

  t = Clock::now();
  auto committed = lance::commit_create_index(commit);
  if (!committed.ok()) return fail(committed.status());
  report_.version = committed->version;
  report_.commit_s = seconds_since(t);
  discard();
  return report_;
}

namespace {

// Removes `staging` unless a running build holds its lock; true if removed.
Result<bool> remove_unless_running(const fs::path& staging) {
  const int fd = ::open((staging / "lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  std::error_code ec;
  fs::remove_all(staging, ec);
  if (fd >= 0) ::close(fd);
  if (ec) return Status::IOError("cannot remove " + staging.string() + ": " + ec.message());
  return true;
}

}  // namespace

Result<std::vector<std::string>> cleanup_staging(const std::string& uri, const std::string& work_dir) {
  std::vector<std::string> removed;
  if (!work_dir.empty() && core::is_directory(work_dir)) {
    if (!core::path_exists((fs::path(work_dir) / "build.json").string())) {
      return Status::InvalidArgument(work_dir + " is not a lancer staging folder (no build.json); not removed");
    }
    LANCER_ASSIGN_OR_RETURN(bool gone, remove_unless_running(work_dir));
    if (gone) removed.push_back(work_dir);
  }
  const fs::path dir = fs::path(dataset_root(uri)) / "_lancer";
  if (!core::is_directory(dir.string())) return removed;
  LANCER_ASSIGN_OR_RETURN(auto names, core::list_directory(dir.string()));
  for (const auto& name : names) {
    const fs::path staging = dir / name;
    // Only build folders: _lancer/inputs holds the Python package's supplied
    // arrays, which their builds hold and remove themselves.
    if (!name.starts_with(kStagingPrefix) || !core::is_directory(staging.string())) continue;
    LANCER_ASSIGN_OR_RETURN(bool gone, remove_unless_running(staging));
    if (gone) removed.push_back(staging.string());
  }
  std::error_code ec;
  fs::remove(dir, ec);  // only if empty
  return removed;
}

}  // namespace lancer::pipeline
