// A small command-line driver of src/train for the FAISS comparison
// (bench/train_vs_faiss.py): reads .npy inputs, runs one step, writes .npy
// outputs and prints one JSON line with the wall time of the step alone.
//   train_tool kmeans  --data X.npy --k K [--iters 50] [--tol 0] [--seed 0] [--metric l2]
//                      [--init random|kmeans++] [--fanout -1 (auto) | 0 (flat) | F] [--refine 2] --out C.npy
//   train_tool pq      --data X.npy --m M [--nbits 8] [--iters 50] [--tol 0] [--seed 0] --out CB.npy
//   train_tool encode  --data X.npy --codebook CB.npy --m M [--nbits 8] [--repeat 3] --out CODES.npy
//   train_tool assign  --data X.npy --centroids C.npy [--metric l2] [--repeat 3] --out LABELS.npy
//   train_tool sq      --data X.npy [--repeat 3] --out CODES.npy
// --threads T sets the executor size (default: all cores).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/executor.h"
#include "linalg/blas.h"
#include "storage/read_npy.h"
#include "train/kmeans.h"
#include "train/pq.h"
#include "train/sq.h"

using namespace lancer;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "train_tool: %s\n", msg.c_str());
  std::exit(2);
}

struct Matrix {
  std::vector<float> data;
  size_t rows = 0, dim = 0;
  linalg::MatrixView<const float> view() const { return {data.data(), rows, dim}; }
};

Matrix load(const std::string& path) {
  auto arr = storage::read_npy(path);
  if (!arr.ok()) die(arr.status().to_string());
  if (arr->descr != "<f4" || arr->shape.size() != 2) die(path + ": expected a 2-d float32 array");
  Matrix m;
  m.rows = arr->shape[0];
  m.dim = arr->shape[1];
  m.data.resize(m.rows * m.dim);
  std::memcpy(m.data.data(), arr->data.data(), m.data.size() * sizeof(float));
  return m;
}

template <typename T>
void save(const std::string& path, const std::string& descr, const T* data, size_t rows, size_t dim) {
  auto w = core::NpyWriter::create(path, descr, {dim});
  if (!w.ok()) die(w.status().to_string());
  if (auto st = w->append(data, rows); !st.ok()) die(st.to_string());
  if (auto st = w->close(); !st.ok()) die(st.to_string());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  linalg::reexec_with_better_openblas(argv);  // the kernels the CLI would use
  if (argc < 2) die("usage: train_tool kmeans|pq|encode|assign|sq --flag value ...");
  const std::string cmd = argv[1];
  std::map<std::string, std::string> a;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) die(std::string("bad flag ") + argv[i]);
    a[argv[i] + 2] = argv[i + 1];
  }
  auto get = [&](const std::string& k, const std::string& def = "") {
    auto it = a.find(k);
    if (it != a.end()) return it->second;
    if (def.empty()) die("missing --" + k);
    return def;
  };
  core::ThreadPool pool(std::atoi(get("threads", "0").c_str()));
  const Matrix x = load(get("data"));
  const int repeat = std::atoi(get("repeat", "1").c_str());

  if (cmd == "kmeans") {
    train::KMeansParams p;
    p.num_clusters = std::atoi(get("k").c_str());
    p.max_iters = std::atoi(get("iters", "50").c_str());
    p.tolerance = std::atof(get("tol", "0").c_str());
    p.seed = std::strtoull(get("seed", "0").c_str(), nullptr, 10);
    p.metric = *simd::parse_metric(get("metric", "l2"));
    p.init = get("init", "kmeans++") == "kmeans++" ? train::KMeansInit::kKMeansPlusPlus : train::KMeansInit::kRandom;
    p.hierarchical_fanout = std::atoi(get("fanout", "-1").c_str());
    p.refine_iters = std::atoi(get("refine", "2").c_str());
    const auto t0 = std::chrono::steady_clock::now();
    auto m = train::train_kmeans(x.view(), p, pool);
    const double sec = seconds_since(t0);
    if (!m.ok()) die(m.status().to_string());
    save(get("out"), "<f4", (*m)->centroids.data(), (*m)->k, (*m)->dim);
    std::printf("{\"seconds\": %.6f, \"loss\": %.10g, \"iterations\": %d, \"threads\": %d}\n", sec, (*m)->loss,
                (*m)->iterations, pool.num_threads());
  } else if (cmd == "pq") {
    train::PqParams p;
    p.num_sub_vectors = std::atoi(get("m").c_str());
    p.num_bits = std::atoi(get("nbits", "8").c_str());
    p.max_iters = std::atoi(get("iters", "50").c_str());
    p.tolerance = std::atof(get("tol", "0").c_str());
    p.seed = std::strtoull(get("seed", "0").c_str(), nullptr, 10);
    const auto t0 = std::chrono::steady_clock::now();
    auto m = train::train_pq(x.view(), p, pool);
    const double sec = seconds_since(t0);
    if (!m.ok()) die(m.status().to_string());
    const size_t ksub = size_t{1} << p.num_bits;
    save(get("out"), "<f4", (*m)->codebook.data(), ksub * p.num_sub_vectors, x.dim / p.num_sub_vectors);
    std::printf("{\"seconds\": %.6f, \"loss\": %.10g, \"searched\": %.4f, \"threads\": %d}\n", sec, (*m)->loss,
                (*m)->searched_fraction, pool.num_threads());
  } else if (cmd == "encode") {
    const Matrix cb = load(get("codebook"));
    const int m = std::atoi(get("m").c_str()), nbits = std::atoi(get("nbits", "8").c_str());
    auto model = train::pq_from_codebook(cb.data, static_cast<int>(x.dim), m, nbits);
    if (!model.ok()) die(model.status().to_string());
    std::vector<uint8_t> codes(x.rows * (*model)->code_size());
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto st = train::pq_encode(**model, x.view(), codes, pool); !st.ok()) die(st.to_string());
      best = std::min(best, seconds_since(t0));
    }
    save(get("out"), "|u1", codes.data(), x.rows, (*model)->code_size());
    std::printf("{\"seconds\": %.6f, \"vectors_per_s\": %.1f, \"threads\": %d}\n", best, x.rows / best,
                pool.num_threads());
  } else if (cmd == "assign") {
    const Matrix c = load(get("centroids"));
    auto model =
        train::kmeans_from_centroids(c.data, static_cast<int>(c.dim), *simd::parse_metric(get("metric", "l2")));
    if (!model.ok()) die(model.status().to_string());
    std::vector<uint32_t> labels(x.rows);
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto st = train::assign_partitions(**model, x.view(), labels, {}, pool); !st.ok()) die(st.to_string());
      best = std::min(best, seconds_since(t0));
    }
    save(get("out"), "<u4", labels.data(), x.rows, 1);
    std::printf("{\"seconds\": %.6f, \"gflops\": %.2f, \"threads\": %d}\n", best,
                2.0 * x.rows * c.rows * x.dim / best / 1e9, pool.num_threads());
  } else if (cmd == "sq") {
    std::vector<uint8_t> codes(x.rows * x.dim);
    auto model = train::train_sq(x.view(), pool);
    if (!model.ok()) die(model.status().to_string());
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      if (auto st = train::sq_encode(**model, x.view(), codes, pool); !st.ok()) die(st.to_string());
      best = std::min(best, seconds_since(t0));
    }
    save(get("out"), "|u1", codes.data(), x.rows, x.dim);
    std::printf("{\"seconds\": %.6f, \"start\": %.17g, \"end\": %.17g, \"threads\": %d}\n", best, (*model)->start,
                (*model)->end, pool.num_threads());
  } else {
    die("unknown command " + cmd);
  }
  return 0;
}
