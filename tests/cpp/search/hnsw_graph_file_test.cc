// index.idx of an IVF_HNSW_FLAT segment written by ivf::HnswIndexFileWriter and
// read back through search/hnsw_graph_file.h, pages split inside partitions.
#include "search/hnsw_graph_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "encodings_v2_0.pb.h"
#include "graph/hnsw_search.h"
#include "index.pb.h"
#include "ivf/hnsw_index_file.h"
#include "quant/flat_codec.h"

namespace lancer::search {
namespace {

TEST(HnswGraphFile, WriteThenReadBack) {
  const uint32_t dim = 8;
  const std::vector<size_t> sizes{700, 0, 1, 6000};  // an empty partition, a one-node one, one spanning pages
  auto model = std::make_shared<ivf::IndexModel>();
  model->kind = {quant::SubIndexKind::kHnsw, quant::QuantizerKind::kFlat};
  model->metric = quant::Metric::kCosine;
  model->column = {lance::ElementType::kFloat32, dim};
  model->num_partitions = static_cast<uint32_t>(sizes.size());
  model->centroids.assign(sizes.size() * dim, 0.25f);
  model->loss = 3.5;
  model->codec = quant::make_flat_codec(dim, false);
  const graph::HnswParams params{8, 16, 4};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<graph::HnswGraph> graphs;
  for (size_t n : sizes) {
    std::vector<float> x(n * dim);
    for (float& v : x) v = normal(rng);
    auto g = graph::build_hnsw({x.data(), n, dim}, graph::GraphDistance::kL2, params);
    ASSERT_TRUE(g.ok());
    graphs.push_back(std::move(*g));
  }
  const auto path = (std::filesystem::temp_directory_path() / "lancer_hnsw_graph_file_test.idx").string();
  auto writer = ivf::HnswIndexFileWriter::create(path, model, params, 64 << 10);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  for (uint32_t p = 0; p < graphs.size(); ++p) ASSERT_TRUE((*writer)->write_partition(p, graphs[p]).ok());
  EXPECT_FALSE((*writer)->write_partition(1, graphs[1]).ok());  // out of order
  auto size = (*writer)->finish();
  ASSERT_TRUE(size.ok()) << size.status().message();
  EXPECT_EQ(*size, std::filesystem::file_size(path));

  auto file = lance::LanceFile::open(path, "index.idx");
  ASSERT_TRUE(file.ok()) << file.status().message();
  const lance::LanceFile& f = **file;
  EXPECT_EQ(f.version().to_string(), "2.0");
  ASSERT_EQ(f.num_columns(), 5u);
  EXPECT_GT(f.column(1).pages.size(), 1u);  // the big partition spans several 64 KiB item pages
  ASSERT_EQ(f.schema().fields_size(), 5);
  EXPECT_EQ(f.schema().fields(1).logical_type(), "list");
  EXPECT_EQ(f.schema().fields(2).parent_id(), 1);
  EXPECT_EQ(f.schema().fields(4).logical_type(), "float");
  EXPECT_EQ(f.schema().metadata().at("lance:index"), "{\"type\":\"IVF_HNSW_FLAT\",\"distance_type\":\"cosine\"}");
  ::lance::encodings::ArrayEncoding list_page;
  ASSERT_TRUE(list_page.ParseFromString(f.column(1).pages[0].encoding));
  ASSERT_TRUE(list_page.has_list());
  EXPECT_EQ(list_page.list().null_offset_adjustment(), list_page.list().num_items() + 1);

  auto ivf_bytes = f.read_global_buffer(std::stoul(f.schema().metadata().at("lance:ivf")));
  ASSERT_TRUE(ivf_bytes.ok());
  ::lance::index::pb::IVF ivf;
  ASSERT_TRUE(ivf.ParseFromArray(ivf_bytes->data(), static_cast<int>(ivf_bytes->size())));
  ASSERT_EQ(ivf.lengths_size(), 4);
  EXPECT_EQ(ivf.centroids_tensor().shape(0), 4u);
  EXPECT_EQ(ivf.loss(), 3.5);

  auto strings = hnsw_partition_strings(f);
  ASSERT_TRUE(strings.ok());
  ASSERT_EQ(strings->size(), 4u);
  EXPECT_EQ((*strings)[1], "");
  for (uint32_t p = 0; p < graphs.size(); ++p) {
    EXPECT_EQ(ivf.lengths(p), graphs[p].num_rows());
    EXPECT_EQ((*strings)[p], graphs[p].num_nodes ? graph::hnsw_partition_json(graphs[p], params) : "");
    auto back = read_hnsw_partition(f, ivf.offsets(p), ivf.lengths(p), (*strings)[p]);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->num_nodes, graphs[p].num_nodes);
    EXPECT_EQ(back->entry_point, graphs[p].entry_point);
    ASSERT_EQ(back->levels.size(), graphs[p].levels.size());
    for (size_t l = 0; l < back->levels.size(); ++l) {
      EXPECT_EQ(back->levels[l].nodes, graphs[p].levels[l].nodes);
      EXPECT_EQ(back->levels[l].offsets, graphs[p].levels[l].offsets);
      EXPECT_EQ(back->levels[l].neighbors, graphs[p].levels[l].neighbors);
    }
  }
  // A wrong split of the rows is refused.
  EXPECT_FALSE(read_hnsw_partition(f, ivf.offsets(0), ivf.lengths(0) - 1, (*strings)[0]).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lancer::search
