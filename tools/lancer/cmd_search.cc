// `lancer search URI --index NAME (--vector-file FILE | --row ROWADDR) -k 10 --nprobes N [--refine-factor R] [--ef E]`
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "dataset/take.h"
#include "lancer/search.h"
#include "simd/convert.h"
#include "storage/file_io.h"
#include "storage/read_npy.h"

namespace lancer::cli {

namespace {

struct Args {
  SearchOptions options;
  std::string vector_file;
  std::optional<uint64_t> row;
  bool json = false;
};

// Queries from a float32 .npy of shape (dim,) or (n, dim).
Result<std::pair<std::vector<float>, size_t>> load_queries(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(core::NpyArray a, storage::read_npy(path));
  if (a.descr != "<f4" || a.shape.empty() || a.shape.size() > 2) {
    return Status::InvalidArgument(path + ": queries must be a float32 array of shape (dim,) or (n, dim)");
  }
  std::vector<float> q(a.data.size() / 4);
  std::memcpy(q.data(), a.data.data(), a.data.size());
  return std::make_pair(std::move(q), static_cast<size_t>(a.shape.back()));
}

Result<std::pair<std::vector<float>, size_t>> row_query(const Args& args) {
  LANCER_ASSIGN_OR_RETURN(auto ds, dataset::Dataset::open(args.options.uri));
  LANCER_ASSIGN_OR_RETURN(auto indices, ds->indices());
  for (const auto& idx : indices) {
    if (idx.name != args.options.index_name || idx.fields.empty()) continue;
    for (const auto& f : ds->fields()) {
      if (f.id != idx.fields[0]) continue;
      LANCER_ASSIGN_OR_RETURN(auto column, ds->vector_column(f.path));
      std::vector<uint8_t> values, valid;
      const uint64_t addr = *args.row;
      LANCER_RETURN_IF_ERROR(dataset::take_vectors(*ds, column, std::span<const uint64_t>(&addr, 1), &values, &valid));
      if (!valid[0]) return Status::InvalidArgument("row " + std::to_string(addr) + " holds a null vector");
      std::vector<float> q;
      simd::to_float32(values.data(), column.type.dim, column.type.element, &q);
      return std::make_pair(std::move(q), static_cast<size_t>(column.type.dim));
    }
  }
  return Status::NotFound("index " + args.options.index_name + " does not exist in " + args.options.uri);
}

}  // namespace

Command add_search_command(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto& o = args->options;
  CLI::App* sub = app.add_subcommand("search", "k-nearest-neighbour search with a committed IVF index");
  sub->add_option("uri", o.uri, "Dataset: a folder or an object-store URI (s3://, gs://, az://)")->required();
  sub->add_option("--index", o.index_name, "Index name")->required();
  auto* file = sub->add_option("--vector-file", args->vector_file, "Queries: float32 .npy, (dim,) or (n, dim)")
                   ->check(CLI::ExistingFile);
  auto* row = sub->add_option("--row", args->row, "Use the vector stored at this row address as the query");
  file->excludes(row);
  sub->add_option("-k,--k", o.k, "Neighbours per query (default 10)");
  sub->add_option("--nprobes", o.nprobes, "Partitions to probe (default 1)");
  sub->add_option("--refine-factor", o.refine_factor, "Re-rank k x R candidates with exact distances");
  sub->add_option("--ef", o.ef,
                  "IVF_HNSW_*: candidates kept on a graph's base level (default Lance's: 1.5 x k x refine factor)");
  sub->add_flag("--json", args->json, "Print JSON: one list of {_rowid, _distance} per query");
  return {sub, [args] {
            if (args->vector_file.empty() && !args->row) {
              return report_error(Status::InvalidArgument("give --vector-file or --row"));
            }
            auto queries = args->row ? row_query(*args) : load_queries(args->vector_file);
            if (!queries.ok()) return report_error(queries.status());
            auto results = search_index(args->options, queries->first, queries->second);
            if (!results.ok()) return report_error(results.status());
            if (args->json) {
              nlohmann::json out = nlohmann::json::array();
              for (const auto& hits : *results) {
                nlohmann::json list = nlohmann::json::array();
                for (const auto& h : hits) list.push_back({{"_rowid", h.row_id}, {"_distance", h.distance}});
                out.push_back(list);
              }
              std::cout << out.dump() << std::endl;
              return 0;
            }
            for (size_t q = 0; q < results->size(); ++q) {
              if (results->size() > 1) std::cout << "query " << q << "\n";
              std::cout << "_rowid\t_distance\n";
              for (const auto& h : (*results)[q]) std::cout << h.row_id << "\t" << h.distance << "\n";
            }
            return 0;
          }};
}

}  // namespace lancer::cli
