// Test-only tool for tests/oracle/test_hnsw_file.py (not part of the shipped CLI).
//   hnsw_index_tool write VECTORS.f32 LENGTHS.u64 CENTROIDS.f32 DIM l2|cosine|dot M EF MAX_LEVEL OUT.idx
//     Builds one HNSW graph per partition over the vectors (raw little-endian f32, partitions back to back in
//     auxiliary.idx order; cosine rows already normalized, as Lance stores them) and writes an IVF_HNSW_FLAT
//     index.idx. Prints {"rows":..,"build_seconds":..}.
//   hnsw_index_tool read INDEX.idx
//     Prints every partition read back: one JSON line {"partition":p,"entry_point":e,"levels":[[[node,[nbs]],..],..]}.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "index.pb.h"
#include "ivf/hnsw_index_file.h"
#include "quant/flat_codec.h"
#include "search/hnsw_graph_file.h"

namespace {

namespace graph = lancer::graph;
namespace ivf = lancer::ivf;
namespace quant = lancer::quant;
namespace search = lancer::search;
using lancer::Status;

template <typename T>
std::vector<T> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

int fail(const Status& s) {
  std::cerr << s.message() << "\n";
  return 1;
}

int write(char** argv) {
  const auto vectors = read_raw<float>(argv[2]);
  const auto lengths = read_raw<uint64_t>(argv[3]);
  const uint32_t dim = static_cast<uint32_t>(std::stoul(argv[5]));
  const std::string metric = argv[6];
  const graph::HnswParams params{static_cast<uint32_t>(std::stoul(argv[7])), static_cast<uint32_t>(std::stoul(argv[8])),
                                 static_cast<uint32_t>(std::stoul(argv[9]))};
  auto model = std::make_shared<ivf::IndexModel>();
  model->kind = {quant::SubIndexKind::kHnsw, quant::QuantizerKind::kFlat};
  model->metric = metric == "l2"       ? quant::Metric::kL2
                  : metric == "cosine" ? quant::Metric::kCosine
                                       : quant::Metric::kDot;
  model->column = {lancer::lance::ElementType::kFloat32, dim};
  model->num_partitions = static_cast<uint32_t>(lengths.size());
  model->centroids = read_raw<float>(argv[4]);
  model->codec = quant::make_flat_codec(dim, false);
  const auto distance = metric == "l2" ? graph::GraphDistance::kL2 : graph::GraphDistance::kOneMinusDot;
  auto writer = ivf::HnswIndexFileWriter::create(argv[10], model, params);
  if (!writer.ok()) return fail(writer.status());
  size_t first = 0;
  double seconds = 0;
  for (uint32_t p = 0; p < lengths.size(); ++p) {
    if ((first + lengths[p]) * dim > vectors.size()) return fail(Status::InvalidArgument("lengths past the vectors"));
    const auto start = std::chrono::steady_clock::now();
    auto g = graph::build_hnsw({vectors.data() + first * dim, lengths[p], dim}, distance, params);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!g.ok()) return fail(g.status());
    if (auto s = (*writer)->write_partition(p, *g); !s.ok()) return fail(s);
    first += lengths[p];
  }
  auto size = (*writer)->finish();
  if (!size.ok()) return fail(size.status());
  std::printf("{\"rows\":%zu,\"build_seconds\":%.4f}\n", first, seconds);
  return 0;
}

int read(char** argv) {
  auto file = lancer::lance::LanceFile::open(argv[2], argv[2]);
  if (!file.ok()) return fail(file.status());
  const lancer::lance::LanceFile& f = **file;
  auto strings = search::hnsw_partition_strings(f);
  if (!strings.ok()) return fail(strings.status());
  auto bytes = f.read_global_buffer(std::stoul(f.schema().metadata().at("lance:ivf")));
  if (!bytes.ok()) return fail(bytes.status());
  ::lance::index::pb::IVF ivf;
  ivf.ParseFromArray(bytes->data(), static_cast<int>(bytes->size()));
  for (int p = 0; p < ivf.lengths_size(); ++p) {
    auto g = search::read_hnsw_partition(f, ivf.offsets(p), ivf.lengths(p), (*strings)[p]);
    if (!g.ok()) return fail(g.status());
    std::string line =
        "{\"partition\":" + std::to_string(p) + ",\"entry_point\":" + std::to_string(g->entry_point) + ",\"levels\":[";
    for (size_t l = 0; l < g->levels.size(); ++l) {
      const auto& level = g->levels[l];
      line += l ? ",[" : "[";
      for (size_t r = 0; r < level.nodes.size(); ++r) {
        line += (r ? ",[" : "[") + std::to_string(level.nodes[r]) + ",[";
        for (uint64_t e = level.offsets[r]; e < level.offsets[r + 1]; ++e) {
          line += (e > level.offsets[r] ? "," : "") + std::to_string(level.neighbors[e]);
        }
        line += "]]";
      }
      line += "]";
    }
    std::printf("%s]}\n", line.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "write" && argc == 11) return write(argv);
  if (mode == "read" && argc == 3) return read(argv);
  std::cerr << "usage: hnsw_index_tool write VECTORS.f32 LENGTHS.u64 CENTROIDS.f32 DIM METRIC M EF MAX_LEVEL OUT.idx\n"
               "       hnsw_index_tool read INDEX.idx\n";
  return 2;
}
