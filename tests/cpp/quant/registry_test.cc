// The quantizer registry is the one list of quantizers: names, the buildable
// index types and their error text, and each entry's part of Lance's
// VectorIndexDetails.
#include "quant/registry.h"

#include <gtest/gtest.h>

#include "quant/flat_codec.h"
#include "quant/index_kind.h"
#include "quant/pq_codec.h"
#include "quant/rq_codec.h"
#include "quant/sq_codec.h"

namespace lancer::quant {
namespace {

TEST(Registry, OneEntryPerKindInOrder) {
  const auto all = quantizers();
  ASSERT_EQ(all.size(), 4u);
  const QuantizerKind kinds[] = {QuantizerKind::kFlat, QuantizerKind::kSq, QuantizerKind::kPq, QuantizerKind::kRq};
  const char* names[] = {"FLAT", "SQ", "PQ", "RQ"};
  const int32_t index_versions[] = {1, 1, 1, 2};  // what Lance 14 writes in the manifest
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i]->kind, kinds[i]);
    EXPECT_STREQ(all[i]->name, names[i]);
    EXPECT_EQ(&quantizer(kinds[i]), all[i]);
    EXPECT_STREQ(quantizer_name(kinds[i]), names[i]);
    EXPECT_NE(all[i]->from_storage, nullptr);
    EXPECT_NE(all[i]->from_model, nullptr);
    EXPECT_NE(all[i]->lance_compression, nullptr);
    EXPECT_EQ(all[i]->index_version, index_versions[i]);
  }
}

TEST(Registry, BuildableIndexTypes) {
  EXPECT_EQ(buildable_index_types(), (std::vector<std::string>{"IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ",
                                                               "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"}));
  // The text plan.cc's error carries.
  EXPECT_EQ(join_type_names(buildable_index_types()),
            "IVF_FLAT, IVF_SQ, IVF_PQ, IVF_RQ, IVF_HNSW_FLAT, IVF_HNSW_SQ or IVF_HNSW_PQ");
  EXPECT_EQ(join_type_names({"A", "B"}), "A or B");
  EXPECT_EQ(join_type_names({"A"}), "A");
  EXPECT_EQ(join_type_names({}), "");
  for (const std::string& name : buildable_index_types()) {
    auto kind = parse_index_type(name);
    ASSERT_TRUE(kind.ok()) << name;
    EXPECT_TRUE(is_implemented(*kind)) << name;
  }
}

TEST(Registry, LanceCompression) {
  const auto flat = quantizer(QuantizerKind::kFlat).lance_compression(*make_flat_codec(8, false));
  EXPECT_STREQ(flat.field, "flat");
  EXPECT_TRUE(flat.params.empty());

  auto sqm = sq_from_bounds(8, -1.0, 2.0);
  ASSERT_TRUE(sqm.ok());
  const auto sq = quantizer(QuantizerKind::kSq).lance_compression(*make_sq_codec(*sqm));
  EXPECT_STREQ(sq.field, "sq");
  ASSERT_EQ(sq.params.size(), 1u);
  EXPECT_STREQ(sq.params[0].first, "num_bits");
  EXPECT_EQ(sq.params[0].second, 8u);

  auto pqm = pq_from_codebook(std::vector<float>(16 * 8, 1.5f), 8, 2, 4);
  ASSERT_TRUE(pqm.ok());
  const auto pq = quantizer(QuantizerKind::kPq).lance_compression(*make_pq_codec(*pqm));
  EXPECT_STREQ(pq.field, "pq");
  ASSERT_EQ(pq.params.size(), 2u);
  EXPECT_STREQ(pq.params[0].first, "num_bits");
  EXPECT_EQ(pq.params[0].second, 4u);
  EXPECT_STREQ(pq.params[1].first, "num_sub_vectors");
  EXPECT_EQ(pq.params[1].second, 2u);

  // RQ: num_bits only; rotation_type FAST is proto3's default 0, left out as Lance does.
  auto rqm = std::make_shared<RqModel>();
  rqm->dim = 16;
  rqm->num_bits = 3;
  rqm->signs.assign(8, 0);
  const auto rq = quantizer(QuantizerKind::kRq).lance_compression(*make_rq_codec(rqm));
  EXPECT_STREQ(rq.field, "rq");
  ASSERT_EQ(rq.params.size(), 1u);
  EXPECT_STREQ(rq.params[0].first, "num_bits");
  EXPECT_EQ(rq.params[0].second, 3u);
}

}  // namespace
}  // namespace lancer::quant
