// The train phase: sample (bottom-k by row-id hash, each rank its share of the
// tasks), train IVF and PQ/SQ, broadcast rank 0's model, store model.bin.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/fault_injection.h"
#include "core/process_stats.h"
#include "lancer/shared_memory.h"
#include "linalg/norms.h"
#include "pipeline/index_build.h"
#include "pipeline/model_file.h"
#include "pipeline/sample.h"
#include "pipeline/staging.h"
#include "pipeline/vector_rows.h"
#include "quant/registry.h"
#include "storage/file_io.h"
#include "train/kmeans.h"
#include "train/random.h"
#include "train/train_codec.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;
using core::Clock;
using core::seconds_since;
using json = nlohmann::ordered_json;
using linalg::MatrixView;

}  // namespace

bool IndexBuild::model_trained() const {
  return storage::file_size(storage::join_path(staging_, "model.done")).ok();
}

Result<std::shared_ptr<const ivf::IndexModel>> IndexBuild::model() {
  // Loaded once, by whichever caller asks first (a done-check, a task, finalize); callers may
  // run on several threads.
  std::lock_guard lock(model_mu_);
  if (model_) return model_;
  const std::string path = storage::join_path(staging_, "model.bin");
  LANCER_ASSIGN_OR_RETURN(auto done, read_record(storage::join_path(staging_, "model.done")));
  LANCER_ASSIGN_OR_RETURN(std::string bytes, read_text(path));
  LANCER_ASSIGN_OR_RETURN(auto model, parse_model(bytes, path));
  const uint64_t checksum = model_checksum(bytes);
  if (done.value("checksum", std::string()) != hex64(checksum)) {
    return Status::Corruption(path + ": does not match the checksum in model.done");
  }
  model_checksum_ = checksum;
  model_ = std::move(model);
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
      for (const auto& [h, i] : wanted) collector.offer_hashed(h, v + i * dim);
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
  // (A build this process just planned has no model yet: no need to look.)
  std::string trained(1, resumed_ && model_trained() ? '1' : '0');
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
  const double cpu0 = core::process_cpu_seconds();
  const bool need_ivf_sample = supplied_centroids_.empty();
  const bool need_q_sample = quant::quantizer(kind.quantizer).trains_on_sample && supplied_codebook_.empty();
  const size_t ivf_sample = need_ivf_sample ? size_t(p.sample_rate) * size_t(p.num_partitions) : 0;
  const size_t q_sample = need_q_sample ? size_t(p.sample_rate) << p.num_bits : 0;
  const size_t want = std::max(ivf_sample, q_sample);
  core::UninitVector<float> sample;  // every row read into it: no zero fill first (58 MB at 200,000 x 128)
  size_t sample_rows = 0;
  const auto [t0, t1] = core::owned_range(record_.tasks.size(), collective.rank(), collective.size());
  std::vector<uint64_t> fragment_ids;  // this rank's share
  for (size_t i = t0; i < t1; ++i) {
    fragment_ids.insert(fragment_ids.end(), record_.tasks[i].fragment_ids.begin(), record_.tasks[i].fragment_ids.end());
  }
  // With several ranks on one host, one sample in memory they all map, each rank writing
  // its rows once (lancer/shared_memory.h); else each rank holds a copy.
  std::unique_ptr<SharedMemory> shared;
  if (want > 0 && !storage::is_object_store(options_.uri)) {
    LANCER_ASSIGN_OR_RETURN(shared, core::map_shared(distributed, want * dim * sizeof(float)));
    float* shared_rows = shared ? reinterpret_cast<float*>(shared->data()) : nullptr;
    // Row ids from the metadata, then only the sampled rows (sample_take.cc).
    LANCER_ASSIGN_OR_RETURN(sample_rows, take_sample(fragment_ids, want, distributed, pool, &sample, shared_rows));
  } else if (want > 0) {
    // On an object store a read per run of rows would be a request each: scan whole fragments.
    SampleCollector collector(want, dim, p.seed);
    uint64_t share_rows = 0;
    for (size_t i = t0; i < t1; ++i) share_rows += record_.tasks[i].rows;
    collector.reserve(share_rows);
    LANCER_RETURN_IF_ERROR(scan_sample(fragment_ids, share_rows, pool, collector));
    if (collective.size() > 1) {
      // Hashes first, then only the rows that make the global sample, merged
      // as the take path's are (merge_sample_ranks): one sample moves in all.
      LANCER_ASSIGN_OR_RETURN(auto hash_shares, collective.all_gather(collector.serialize_hashes()));
      LANCER_ASSIGN_OR_RETURN(const uint64_t max_hash, sample_threshold(hash_shares, want));
      LANCER_ASSIGN_OR_RETURN(const auto slots, sample_slots(hash_shares, max_hash, 0));
      std::vector<std::string>().swap(hash_shares);
      const size_t me = static_cast<size_t>(collective.rank());
      std::vector<uint64_t> hashes;
      core::UninitVector<float> mine = collector.take_sorted(pool, &hashes);
      hashes.resize(slots[me + 1] - slots[me]);  // those at or below max_hash
      sample.resize(slots.back() * dim);
      std::copy_n(mine.data(), hashes.size() * dim, sample.data() + slots[me] * dim);
      core::UninitVector<float>().swap(mine);
      LANCER_ASSIGN_OR_RETURN(sample_rows, merge_sample_ranks(collective, hashes, slots, dim, sample.data(), pool));
      sample.resize(sample_rows * dim);
    } else {
      sample_rows = collector.rows();
      sample = collector.take_sorted(pool);
    }
  }
  if (want > 0) {
    progress("sample", 1, 1, true);
    if (sample_rows == 0) {
      return Status::InvalidArgument("column " + p.column + " of " + options_.uri +
                                     " has no non-null finite vectors to index (every row is null, NaN or infinite)");
    }
  }
  core::maybe_kill_at("train");
  MatrixView<float> sample_view(shared ? reinterpret_cast<float*>(shared->data()) : sample.data(), sample_rows, dim);
  if (metric == simd::Metric::kCosine && shared) {
    // Each rank normalises a run of the shared rows (a row's result depends on that row alone).
    const auto [r0, r1] = core::owned_range(sample_rows, collective.rank(), collective.size());
    linalg::normalize_rows(MatrixView<float>(sample_view.row(r0), r1 - r0, dim), pool);
    LANCER_RETURN_IF_ERROR(collective.barrier());  // every run done
  } else if (metric == simd::Metric::kCosine) {
    linalg::normalize_rows(sample_view, pool);
  }
  report_.sample_s = seconds_since(t);
  report_.sample_cpu_s = core::process_cpu_seconds() - cpu0;

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
  cp.supplied_rq_model = supplied_rq_model_;
  cp.shared_sample = shared != nullptr;
  LANCER_ASSIGN_OR_RETURN(model->codec, train::train_codec(cp, sample_view, q_sample, *kmeans, pool, distributed));
  report_.train_quantizer_s = seconds_since(t);
  if (quantized) progress("train PQ/SQ", 1, 1, true);
  LANCER_RETURN_IF_ERROR(model->validate());

  // Every rank continues with rank 0's model, bit for bit, even where ranks
  // computed differently (other SIMD levels on other hosts).
  std::string bytes = serialize_model(*model);
  LANCER_RETURN_IF_ERROR(collective.broadcast(&bytes, 0));
  LANCER_ASSIGN_OR_RETURN(auto agreed, parse_model(bytes, "the model broadcast by rank 0"));
  if (shared) {
    // Every rank is past training once all have met here; each then frees its run of the
    // shared sample, in parallel, rather than the last to unmap freeing all of it.
    LANCER_RETURN_IF_ERROR(collective.barrier());
    const auto [b0, b1] = core::owned_range(shared->size(), collective.rank(), collective.size());
    shared->release(b0, b1 - b0);
    shared.reset();
  }
  {
    std::lock_guard lock(model_mu_);
    model_ = std::move(agreed);
    model_checksum_ = model_checksum(bytes);
  }
  if (collective.rank() == 0) {
    json done{{"checksum", hex64(model_checksum_)}, {"bytes", bytes.size()},
              {"sample_rows", sample_rows},         {"sample_s", report_.sample_s},
              {"train_ivf_s", report_.train_ivf_s}, {"train_quantizer_s", report_.train_quantizer_s}};
    const std::string bin = storage::join_path(staging_, "model.bin"), rec = storage::join_path(staging_, "model.done");
    auto write = [bin, rec, bytes = std::move(bytes), text = done.dump(1)] {
      Status st = storage::write_file_atomic(bin, bytes);
      return st.ok() ? write_record(rec, text) : st;
    };
    // In a build this process runs whole, in the background: its tasks use the model in memory.
    LANCER_RETURN_IF_ERROR(upload(bin, std::move(write), /*local_too=*/true));
  }
  return Status::OK();
}

}  // namespace lancer::pipeline
