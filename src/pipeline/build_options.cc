// The table of build options (include/lancer/build_options.h).
#include "lancer/build_options.h"

#include <algorithm>
#include <cctype>

#include "quant/index_kind.h"

namespace lancer {

namespace {

using O = CreateIndexOptions;
using Check = BuildOption::Check;

const std::vector<BuildOption>& table() {
  static const std::string kIndexTypeHelp = quant::join_type_names(buildable_index_types());
  static const std::vector<BuildOption> options = {
      {"uri", &O::uri, "Dataset: a folder or an object-store URI (s3://, gs://, az://)", Check::kNone, {}, true, true},
      {"column", &O::column, "Vector column (a dotted path for a struct member)", Check::kNone, {}, true},
      {"index_type", &O::index_type, kIndexTypeHelp, Check::kNone, buildable_index_types(), true},
      {"name", &O::name, "Index name (default {column}_idx)"},
      {"replace", &O::replace, "Swap out an index of the same name (default) or refuse"},
      {"metric", &O::metric, "l2 (alias euclidean), cosine or dot", Check::kNone, {"l2", "euclidean", "cosine", "dot"}},
      {"num_partitions", &O::num_partitions, "IVF partitions (default round(sqrt(rows)))"},
      {"num_sub_vectors", &O::num_sub_vectors, "PQ sub-vectors (default dim/16, else dim/8)"},
      {"num_bits",
       &O::num_bits,
       "Bits per code: IVF_PQ 8 (default) or 4; IVF_RQ 1-9 (default 5)",
       Check::kNone,
       {"1", "2", "3", "4", "5", "6", "7", "8", "9"}},
      {"sample_rate", &O::sample_rate, "Training rows per centroid (default 256)"},
      {"max_iters", &O::max_iters, "k-means iterations (default 50)"},
      {"ivf_centroids", &O::ivf_centroids, ".npy [partitions, dim] float32: skip IVF training", Check::kExistingFile},
      {"pq_codebook", &O::pq_codebook, ".npy [m, 2^bits, dim/m] float32: skip PQ training", Check::kExistingFile},
      {"rabitq_model", &O::rabitq_model, "IVF_RQ: JSON of Lance's RaBitQ model (build_rq_model): its rotation",
       Check::kExistingFile},
      {"num_segments", &O::num_segments,
       "Commit this many index segments without merging them (default 1: one merged index)"},
      {"m", &O::m, "IVF_HNSW_*: graph edges per node, 2m on level 0 (default 20)"},
      {"ef_construction", &O::ef_construction, "IVF_HNSW_*: candidates kept while inserting a node (default 150)"},
      {"max_level", &O::max_level, "IVF_HNSW_*: graph levels (default 7)"},
      {"seed", &O::seed, "Random seed (default 42)"},
      {"threads", &O::threads, "Worker threads per process (default: all cores)"},
      {"work_dir", &O::work_dir, "Staging folder or object-store URI (default <dataset>/_lancer/build-<name>)"},
  };
  return options;
}

std::string transformed(std::string s, int (*f)(int)) {
  std::transform(s.begin(), s.end(), s.begin(), [f](unsigned char c) { return static_cast<char>(f(c)); });
  return s;
}

}  // namespace

std::span<const BuildOption> build_options() {
  return table();
}

const BuildOption* find_build_option(std::string_view name) {
  for (const auto& o : table()) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

std::string cli_flag(const BuildOption& option) {
  std::string flag = "--" + std::string(option.name);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

CreateIndexOptions canonical_options(CreateIndexOptions o) {
  o.index_type = transformed(std::move(o.index_type), ::toupper);
  o.metric = transformed(std::move(o.metric), ::tolower);
  if (o.metric == "euclidean") o.metric = "l2";
  return o;
}

}  // namespace lancer
