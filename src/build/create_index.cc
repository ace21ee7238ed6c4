// create_index: sample -> train -> stream, assign, encode, spill -> merge -> commit.
#include "lancer/create_index.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "build/spill.h"
#include "core/executor.h"
#include "core/half.h"
#include "core/npy.h"
#include "core/uuid.h"
#include "dataset/vector_stream.h"
#include "index.pb.h"
#include "ivf/index_files.h"
#include "lance/commit.h"
#include "lance/roaring.h"
#include "linalg/norms.h"
#include "train/kmeans.h"
#include "train/random.h"

namespace lancer {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using linalg::MatrixView;

constexpr size_t kRunBytes = 64u << 20;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

bool finite_row(const float* v, size_t dim) {
  for (size_t j = 0; j < dim; ++j) {
    if (!std::isfinite(v[j])) return false;
  }
  return true;
}

Result<ivf::IndexType> parse_index_type(const std::string& s) {
  if (s == "IVF_FLAT") return ivf::IndexType::kFlat;
  if (s == "IVF_SQ") return ivf::IndexType::kSq;
  if (s == "IVF_PQ") return ivf::IndexType::kPq;
  return Status::InvalidArgument("index type \"" + s + "\" is not supported (IVF_FLAT, IVF_SQ or IVF_PQ)");
}

Result<std::vector<float>> load_f32_npy(const std::string& path, std::vector<uint64_t> shape, const char* what) {
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
  return out;
}

// The batch's vectors as float32 (float16 converted).
const float* as_f32(const dataset::VectorBatch& b, std::vector<float>* scratch) {
  if (b.type.element == lance::ElementType::kFloat32) return reinterpret_cast<const float*>(b.values.data());
  dataset::to_float32(b.values.data(), b.num_rows * b.type.dim, b.type.element, scratch);
  return scratch->data();
}

// Values as a float16 column stores them: the model is rounded once so that
// assignment and encoding use exactly what the index files record.
void round_to_half(std::vector<float>* v) {
  for (float& x : *v) x = core::half_to_float(core::float_to_half(x));
}

// Uniform sample of the finite vectors (reservoir sampling, seeded).
struct Sample {
  std::vector<float> data;
  size_t rows = 0;
};

// Reports progress when the caller asked for it.
struct Progress {
  const std::function<void(const ProgressEvent&)>* sink;
  void operator()(const char* phase, uint64_t done, uint64_t total, bool finished = false) const {
    if (*sink) (*sink)(ProgressEvent{phase, done, total, finished});
  }
};

Result<Sample> draw_sample(std::shared_ptr<const dataset::Dataset> ds, const std::string& column, size_t dim,
                           size_t want, uint64_t seed, uint64_t expected_rows, const Progress& progress,
                           CreateIndexReport* report) {
  LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(ds, column));
  train::Random rng(train::derive_seed(seed, 1));
  Sample s;
  s.data.resize(want * dim);
  uint64_t seen = 0;
  dataset::VectorBatch batch;
  std::vector<float> scratch;
  for (;;) {
    LANCER_ASSIGN_OR_RETURN(bool more, stream->next(&batch));
    if (!more) break;
    const float* v = as_f32(batch, &scratch);
    for (size_t i = 0; i < batch.num_rows; ++i) {
      const float* row = v + i * dim;
      if (!finite_row(row, dim)) continue;
      size_t slot = seen < want ? seen : rng.uniform(seen + 1);
      ++seen;
      if (slot < want) std::memcpy(s.data.data() + slot * dim, row, dim * 4);
    }
    progress("sample", stream->stats().rows + stream->stats().null_rows + stream->stats().deleted_rows, expected_rows);
  }
  progress("sample", expected_rows, expected_rows, true);
  s.rows = std::min<uint64_t>(seen, want);
  s.data.resize(s.rows * dim);
  report->rows = seen;
  report->null_rows = stream->stats().null_rows;
  report->deleted_rows = stream->stats().deleted_rows;
  report->skipped_nonfinite = stream->stats().rows - seen;
  return s;
}

::lance::index::pb::VectorIndexDetails index_details(const ivf::IndexModel& m) {
  ::lance::index::pb::VectorIndexDetails d;
  using D = ::lance::index::pb::VectorIndexDetails;
  d.set_metric_type(m.metric == simd::Metric::kCosine ? D::Cosine : m.metric == simd::Metric::kDot ? D::Dot : D::L2);
  switch (m.type) {
    case ivf::IndexType::kFlat: d.mutable_flat(); break;
    case ivf::IndexType::kSq: d.mutable_sq()->set_num_bits(8); break;
    case ivf::IndexType::kPq:
      d.mutable_pq()->set_num_bits(static_cast<uint32_t>(m.pq->num_bits));
      d.mutable_pq()->set_num_sub_vectors(static_cast<uint32_t>(m.pq->num_sub_vectors));
      break;
  }
  return d;
}

Result<CreateIndexReport> run_build(const CreateIndexOptions& o, const fs::path& index_dir, const std::string& uuid_bytes,
                                CreateIndexReport report) {
  const auto t_total = Clock::now();
  const Progress progress{&o.progress};
  core::ThreadPool pool(o.threads);
  LANCER_ASSIGN_OR_RETURN(ivf::IndexType type, parse_index_type(o.index_type));
  const std::string metric_text = o.metric == "euclidean" ? "l2" : o.metric;
  auto metric = simd::parse_metric(metric_text);
  if (!metric) return Status::InvalidArgument("metric \"" + o.metric + "\" is not supported (l2, cosine, dot)");
  LANCER_ASSIGN_OR_RETURN(auto ds, dataset::Dataset::open(o.uri));
  LANCER_ASSIGN_OR_RETURN(dataset::VectorColumn column, ds->vector_column(o.column));
  auto model = std::make_shared<ivf::IndexModel>();
  model->type = type;
  model->metric = *metric;
  model->column = column.type;
  if (column.type.element == lance::ElementType::kUInt8) {
    return Status::NotSupported("column " + o.column + " holds uint8 vectors; lancer indexes float32 and float16 "
                                "vectors so far");
  }
  const bool half = column.type.element == lance::ElementType::kFloat16;
  const size_t dim = column.type.dim;
  report.read_version = ds->version();
  report.fragments = ds->fragments().size();
  report.metric = simd::metric_name(*metric);

  uint64_t live_rows = 0, physical_rows = 0;
  for (const auto& f : ds->fragments()) {
    live_rows += f.physical_rows - std::min(f.physical_rows, f.deleted_rows);
    physical_rows += f.physical_rows;
  }
  const int nlist = o.num_partitions.value_or(std::max(1, static_cast<int>(std::lround(std::sqrt(double(live_rows))))));
  if (nlist < 1) return Status::InvalidArgument("num_partitions must be at least 1");
  int m = 0;
  if (type == ivf::IndexType::kPq) {
    m = o.num_sub_vectors.value_or(dim % 16 == 0 ? static_cast<int>(dim / 16) : dim % 8 == 0 ? static_cast<int>(dim / 8) : 0);
    if (m <= 0 || dim % static_cast<size_t>(m) != 0) {
      return Status::InvalidArgument("num_sub_vectors must divide the dimension " + std::to_string(dim) +
                                     (o.num_sub_vectors ? "" : " (the default needs dim % 8 == 0)"));
    }
  }
  report.num_partitions = nlist;
  report.num_sub_vectors = m;

  // Phase 1: sample and train.
  auto t = Clock::now();
  const size_t ivf_sample = size_t(o.sample_rate) * size_t(nlist);
  const size_t q_sample = type == ivf::IndexType::kFlat ? 0 : size_t(o.sample_rate) << o.num_bits;
  LANCER_ASSIGN_OR_RETURN(Sample sample,
                          draw_sample(ds, o.column, dim, std::max(ivf_sample, q_sample), o.seed, physical_rows,
                                      progress, &report));
  if (sample.rows == 0) return Status::InvalidArgument("column " + o.column + " has no non-null finite vectors to index");
  MatrixView<float> sample_view(sample.data.data(), sample.rows, dim);
  if (*metric == simd::Metric::kCosine) linalg::normalize_rows(sample_view, pool);
  report.sample_s = seconds_since(t);

  t = Clock::now();
  progress("train IVF", 0, 0);
  std::shared_ptr<const train::KMeansModel> kmeans;
  if (!o.ivf_centroids.empty()) {
    LANCER_ASSIGN_OR_RETURN(auto c, load_f32_npy(o.ivf_centroids, {uint64_t(nlist), dim}, "IVF centroids"));
    LANCER_ASSIGN_OR_RETURN(kmeans, train::kmeans_from_centroids(std::move(c), static_cast<int>(dim), *metric));
  } else {
    if (sample.rows < size_t(nlist)) {
      return Status::InvalidArgument("num_partitions " + std::to_string(nlist) + " exceeds the " +
                                     std::to_string(sample.rows) + " vectors available to train on");
    }
    train::KMeansParams kp;
    kp.num_clusters = nlist;
    kp.max_iters = o.max_iters;
    kp.seed = o.seed;
    kp.metric = *metric;
    LANCER_ASSIGN_OR_RETURN(kmeans, train::train_kmeans(MatrixView<const float>(sample_view), kp, pool));
  }
  model->num_partitions = static_cast<uint32_t>(nlist);
  model->centroids = kmeans->centroids;
  if (half) {
    round_to_half(&model->centroids);
    LANCER_ASSIGN_OR_RETURN(kmeans, train::kmeans_from_centroids(model->centroids, static_cast<int>(dim), *metric));
  }
  model->loss = kmeans->loss;
  report.train_ivf_s = seconds_since(t);
  progress("train IVF", 1, 1, true);

  t = Clock::now();
  if (type != ivf::IndexType::kFlat) progress("train PQ/SQ", 0, 0);
  const bool residual = type == ivf::IndexType::kPq && *metric != simd::Metric::kDot;
  if (type == ivf::IndexType::kPq) {
    if (!o.pq_codebook.empty()) {
      const uint64_t k = uint64_t{1} << o.num_bits;
      LANCER_ASSIGN_OR_RETURN(auto cb, load_f32_npy(o.pq_codebook, {uint64_t(m), k, dim / m}, "PQ codebook"));
      LANCER_ASSIGN_OR_RETURN(model->pq, train::pq_from_codebook(std::move(cb), static_cast<int>(dim), m, o.num_bits));
    } else {
      std::vector<float> pq_data(sample.data.begin(), sample.data.begin() + std::min(sample.rows, q_sample) * dim);
      MatrixView<float> pq_view(pq_data.data(), pq_data.size() / dim, dim);
      if (residual) {
        std::vector<uint32_t> labels(pq_view.rows);
        LANCER_RETURN_IF_ERROR(train::assign_partitions(*kmeans, pq_view, labels, {}, pool));
        for (size_t i = 0; i < pq_view.rows; ++i) {
          const float* c = kmeans->centroids.data() + size_t(labels[i]) * dim;
          for (size_t j = 0; j < dim; ++j) pq_view.row(i)[j] -= c[j];
        }
      }
      train::PqParams pp;
      pp.num_sub_vectors = m;
      pp.num_bits = o.num_bits;
      pp.max_iters = o.max_iters;
      pp.seed = train::derive_seed(o.seed, 2);
      LANCER_ASSIGN_OR_RETURN(model->pq, train::train_pq(MatrixView<const float>(pq_view), pp, pool));
    }
    if (half) {
      std::vector<float> cb = model->pq->codebook;
      round_to_half(&cb);
      LANCER_ASSIGN_OR_RETURN(model->pq, train::pq_from_codebook(std::move(cb), static_cast<int>(dim), m, o.num_bits));
    }
  } else if (type == ivf::IndexType::kSq) {
    LANCER_ASSIGN_OR_RETURN(model->sq, train::train_sq(MatrixView<const float>(sample_view), pool));
  }
  sample = {};
  report.train_quantizer_s = seconds_since(t);
  if (type != ivf::IndexType::kFlat) progress("train PQ/SQ", 1, 1, true);

  // Phase 2: stream, assign, encode, spill partition-sorted runs.
  t = Clock::now();
  const size_t rb = model->storage_row_bytes();
  LANCER_ASSIGN_OR_RETURN(auto spill, build::SpillFile::create((index_dir / "build.spill").string(),
                                                               model->num_partitions, rb));
  {
    LANCER_ASSIGN_OR_RETURN(auto stream, dataset::VectorStream::open(ds, o.column));
    dataset::VectorBatch batch;
    std::vector<float> x, resid, scratch;
    std::vector<uint16_t> halves;
    std::vector<uint32_t> labels;
    std::vector<uint64_t> ids;
    std::vector<uint8_t> codes;
    for (;;) {
      LANCER_ASSIGN_OR_RETURN(bool more, stream->next(&batch));
      if (!more) break;
      const float* v = as_f32(batch, &scratch);
      x.clear();
      ids.clear();
      for (size_t i = 0; i < batch.num_rows; ++i) {
        if (!finite_row(v + i * dim, dim)) continue;
        x.insert(x.end(), v + i * dim, v + (i + 1) * dim);
        ids.push_back(batch.row_ids[i]);
      }
      const size_t n = ids.size();
      if (n == 0) continue;
      MatrixView<float> xv(x.data(), n, dim);
      if (*metric == simd::Metric::kCosine) linalg::normalize_rows(xv, pool);
      labels.resize(n);
      LANCER_RETURN_IF_ERROR(train::assign_partitions(*kmeans, xv, labels, {}, pool));
      const uint8_t* storage = reinterpret_cast<const uint8_t*>(x.data());
      if (type == ivf::IndexType::kFlat && half) {  // stored as the column's float16
        halves.resize(x.size());
        for (size_t i = 0; i < x.size(); ++i) halves[i] = core::float_to_half(x[i]);
        storage = reinterpret_cast<const uint8_t*>(halves.data());
      } else if (type == ivf::IndexType::kSq) {
        codes.resize(n * rb);
        LANCER_RETURN_IF_ERROR(train::sq_encode(*model->sq, xv, codes, pool));
        storage = codes.data();
      } else if (type == ivf::IndexType::kPq) {
        resid = x;
        if (residual) {
          for (size_t i = 0; i < n; ++i) {
            const float* c = model->centroids.data() + size_t(labels[i]) * dim;
            for (size_t j = 0; j < dim; ++j) resid[i * dim + j] -= c[j];
          }
        }
        codes.resize(n * rb);
        LANCER_RETURN_IF_ERROR(train::pq_encode(*model->pq, MatrixView<const float>(resid.data(), n, dim), codes, pool));
        storage = codes.data();
      }
      for (size_t i = 0; i < n; ++i) spill->add(labels[i], ids[i], storage + i * rb);
      LANCER_RETURN_IF_ERROR(spill->maybe_flush(kRunBytes));
      const auto& st = stream->stats();
      progress("build", st.rows + st.null_rows + st.deleted_rows, physical_rows);
    }
  }
  progress("build", physical_rows, physical_rows, true);
  report.build_s = seconds_since(t);

  // Phase 3: merge runs partition by partition into the index files.
  t = Clock::now();
  const fs::path aux_path = index_dir / "auxiliary.idx", idx_path = index_dir / "index.idx";
  LANCER_ASSIGN_OR_RETURN(auto aux, ivf::AuxiliaryFileWriter::create(aux_path.string(), model));
  std::vector<uint64_t> part_ids;
  std::vector<uint8_t> part_storage;
  for (uint32_t p = 0; p < model->num_partitions; ++p) {
    LANCER_RETURN_IF_ERROR(spill->read_partition(p, &part_ids, &part_storage));
    LANCER_RETURN_IF_ERROR(aux->write_partition(p, part_ids.data(), part_storage.data(), part_ids.size()));
    if (p % 64 == 0) progress("merge", p, model->num_partitions);
  }
  progress("merge", model->num_partitions, model->num_partitions, true);
  LANCER_ASSIGN_OR_RETURN(uint64_t aux_size, aux->finish());
  LANCER_ASSIGN_OR_RETURN(uint64_t idx_size, ivf::write_index_file(idx_path.string(), *model));
  spill.reset();
  fs::remove(index_dir / "build.spill");
  report.merge_s = seconds_since(t);

  // Commit.
  t = Clock::now();
  lance::CreateIndexCommit commit;
  commit.root = ds->root();
  commit.read_version = ds->version();
  commit.replace = o.replace;
  auto& idx = commit.index;
  idx.mutable_uuid()->set_uuid(uuid_bytes);
  idx.add_fields(column.field_id);
  idx.set_name(report.name);
  idx.set_dataset_version(ds->version());
  std::vector<uint32_t> frag_ids;
  for (const auto& f : ds->fragments()) frag_ids.push_back(static_cast<uint32_t>(f.id));
  idx.set_fragment_bitmap(lance::roaring_encode(frag_ids));
  idx.mutable_index_details()->set_type_url("/lance.index.pb.VectorIndexDetails");
  idx.mutable_index_details()->set_value(index_details(*model).SerializeAsString());
  idx.set_index_version(1);
  idx.set_created_at(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count()));
  auto* f1 = idx.add_files();
  f1->set_path("auxiliary.idx");
  f1->set_size_bytes(aux_size);
  auto* f2 = idx.add_files();
  f2->set_path("index.idx");
  f2->set_size_bytes(idx_size);
  LANCER_ASSIGN_OR_RETURN(lance::CommitResult committed, lance::commit_create_index(commit));
  report.version = committed.version;
  report.commit_s = seconds_since(t);
  report.total_s = seconds_since(t_total);
  report.peak_rss_mb = peak_rss_mb();
  return report;
}

}  // namespace

std::string CreateIndexReport::to_json() const {
  nlohmann::ordered_json j;
  j["uri"] = uri;
  j["column"] = column;
  j["name"] = name;
  j["index_type"] = index_type;
  j["metric"] = metric;
  j["uuid"] = uuid;
  j["read_version"] = read_version;
  j["version"] = version;
  j["rows"] = rows;
  j["null_rows"] = null_rows;
  j["deleted_rows"] = deleted_rows;
  j["skipped_nonfinite"] = skipped_nonfinite;
  j["fragments"] = fragments;
  j["num_partitions"] = num_partitions;
  j["num_sub_vectors"] = num_sub_vectors;
  j["phases_s"] = {{"sample", sample_s},     {"train_ivf", train_ivf_s}, {"train_quantizer", train_quantizer_s},
                   {"build", build_s},       {"merge", merge_s},         {"commit", commit_s},
                   {"total", total_s}};
  j["peak_rss_mb"] = peak_rss_mb;
  return j.dump(2);
}

Result<CreateIndexReport> create_index(const CreateIndexOptions& o) {
  if (o.num_bits != 8 && o.num_bits != 4) return Status::InvalidArgument("num_bits must be 8 or 4");
  if (o.sample_rate < 1 || o.max_iters < 1) return Status::InvalidArgument("sample_rate and max_iters must be >= 1");
  CreateIndexReport report;
  report.uri = o.uri;
  report.column = o.column;
  report.index_type = o.index_type;
  report.name = o.name.empty() ? o.column + "_idx" : o.name;
  const std::string uuid_bytes = core::random_uuid_bytes();
  report.uuid = core::uuid_to_string(uuid_bytes);
  std::string root = o.uri;
  if (root.rfind("file://", 0) == 0) root = root.substr(7);
  const fs::path indices_dir = fs::path(root) / "_indices";
  const fs::path index_dir = indices_dir / report.uuid;
  if (!core::is_directory(root)) return Status::NotFound(root + " is not a directory (expected a Lance dataset)");
  const bool had_indices_dir = core::is_directory(indices_dir.string());
  std::error_code ec;
  fs::create_directories(index_dir, ec);
  if (ec) return Status::IOError("cannot create " + index_dir.string() + ": " + ec.message());
  auto result = run_build(o, index_dir, uuid_bytes, std::move(report));
  if (!result.ok()) {  // leave the dataset exactly as it was
    fs::remove_all(index_dir, ec);
    if (!had_indices_dir) fs::remove(indices_dir, ec);
  }
  return result;
}

}  // namespace lancer
