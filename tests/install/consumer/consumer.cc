// consumer DATASET VERSION: builds an IVF_FLAT index on DATASET's `vector` column through the
// installed library, searches it and checks what comes back; exits non-zero on any failure.
#include <lancer/create_index.h>
#include <lancer/dataset.h>
#include <lancer/search.h>
#include <lancer/version.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: consumer DATASET VERSION");
  const std::string uri = argv[1];
  const lancer::BuildInfo info = lancer::build_info();
  std::printf("%s\n", lancer::build_info_text(info).c_str());
  if (info.version != argv[2]) return fail("version " + info.version + ", expected " + argv[2]);

  lancer::CreateIndexOptions options;
  options.uri = uri;
  options.column = "vector";
  options.index_type = "IVF_FLAT";
  options.num_partitions = 4;
  auto report = lancer::create_index(options);
  if (!report.ok()) return fail("create_index: " + report.status().to_string());

  lancer::SearchOptions search;
  search.uri = uri;
  search.index_name = "vector_idx";
  search.k = 5;
  search.nprobes = 4;  // every partition: an exact search
  const std::vector<float> query(16, 0.0f);
  auto hits = lancer::search_index(search, query, 16);
  if (!hits.ok()) return fail("search_index: " + hits.status().to_string());
  if (hits->size() != 1 || (*hits)[0].size() != 5) return fail("search_index: expected 1 list of 5 hits");
  for (size_t i = 1; i < 5; ++i) {
    if ((*hits)[0][i].distance < (*hits)[0][i - 1].distance) return fail("search_index: hits out of order");
  }
  auto described = lancer::describe_dataset(uri);
  if (!described.ok()) return fail("describe_dataset: " + described.status().to_string());
  if (described->find("\"vector_idx\"") == std::string::npos) return fail("describe_dataset: no vector_idx");
  std::printf("built and searched vector_idx: nearest row %llu at distance %g\n",
              static_cast<unsigned long long>((*hits)[0][0].row_id), (*hits)[0][0].distance);
  return 0;
}
