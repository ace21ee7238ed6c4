// One round trip per codec: encode -> storage metadata and global buffers ->
// read back through the registry -> the scanner's distance equals the
// brute-force one (exact for FLAT, code space / reconstruction for SQ, ADC for
// PQ). Also model.bin sections and the index-type names.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "core/executor.h"
#include "core/half.h"
#include "quant/flat_codec.h"
#include "quant/pq_codec.h"
#include "quant/registry.h"
#include "quant/rq_codec.h"
#include "quant/sq_codec.h"
#include "simd/distance.h"

namespace lancer::quant {
namespace {

constexpr size_t kDim = 16, kRows = 300, kParts = 3;

struct Data {
  std::vector<float> x, centroids, query;
  std::vector<uint32_t> labels;
};

Data make_data(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  Data d;
  for (size_t i = 0; i < kRows * kDim; ++i) d.x.push_back(g(rng));
  for (size_t i = 0; i < kParts * kDim; ++i) d.centroids.push_back(0.5f * g(rng));
  for (size_t i = 0; i < kDim; ++i) d.query.push_back(g(rng));
  for (size_t i = 0; i < kRows; ++i) d.labels.push_back(static_cast<uint32_t>(i % kParts));
  return d;
}

// Writes what the index writer writes, and reads the codec back as search does.
std::shared_ptr<const Codec> round_trip(const Codec& codec, bool half) {
  StoredCodec stored;
  stored.where = "test/auxiliary.idx";
  stored.dim = codec.dim();
  stored.half = half;
  stored.metadata = codec.storage_metadata();
  const auto buffers = codec.global_buffers();
  stored.read_tensor = [&](uint64_t position) -> Result<std::vector<float>> {
    for (const auto& b : buffers) {
      if (b.position == position) return *b.values;
    }
    return Status::Corruption("no global buffer " + std::to_string(position));
  };
  auto back = codec_from_storage(codec.kind(), stored);
  EXPECT_TRUE(back.ok()) << back.status().to_string();
  return back.ok() ? *back : nullptr;
}

// The stored rows of partition p, laid out as auxiliary.idx holds them.
std::vector<uint8_t> partition_rows(const Codec& codec, const std::vector<uint8_t>& rows, const Data& d, uint32_t p,
                                    std::vector<size_t>* members) {
  const size_t rb = codec.row_bytes();
  for (size_t i = 0; i < kRows; ++i) {
    if (d.labels[i] == p) members->push_back(i);
  }
  const size_t n = members->size();
  std::vector<uint8_t> out(n * rb);
  const bool transposed = codec.columns()[0].transposed;
  for (size_t r = 0; r < n; ++r) {
    for (size_t b = 0; b < rb; ++b) {
      (transposed ? out[b * n + r] : out[r * rb + b]) = rows[(*members)[r] * rb + b];
    }
  }
  return out;
}

// Every partition's scanner distances against brute(row index).
template <class Brute>
void expect_scans(const Codec& codec, const std::vector<uint8_t>& rows, const Data& d, Metric metric, bool half,
                  Brute brute) {
  auto scanner = codec.scanner(d.query.data(), metric, half);
  for (uint32_t p = 0; p < kParts; ++p) {
    std::vector<size_t> members;
    const auto stored = partition_rows(codec, rows, d, p, &members);
    scanner->set_partition(d.centroids.data() + p * kDim);
    std::vector<float> got(members.size());
    scanner->scan(stored.data(), members.size(), got.data());
    for (size_t r = 0; r < members.size(); ++r) {
      const double want = brute(members[r], p);
      EXPECT_NEAR(got[r], want, 1e-4 * std::max(1.0, std::abs(want))) << "partition " << p << " row " << r;
    }
  }
}

std::vector<uint8_t> encode(const Codec& codec, const Data& d, Metric metric) {
  core::InlineExecutor ex;
  std::vector<uint8_t> rows(kRows * codec.row_bytes());
  auto st = codec.encode(MatrixView<const float>(d.x.data(), kRows, kDim), d.labels, d.centroids.data(), metric, rows,
                         ex);
  EXPECT_TRUE(st.ok()) << st.to_string();
  return rows;
}

TEST(IndexKind, ParsesAndNamesEveryType) {
  for (const char* name : {"IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"}) {
    auto kind = parse_index_type(name);
    ASSERT_TRUE(kind.ok()) << name;
    EXPECT_EQ(index_type_name(*kind), name);
  }
  EXPECT_EQ(*parse_index_type("IVF_HNSW_SQ"), (IndexKind{SubIndexKind::kHnsw, QuantizerKind::kSq}));
  EXPECT_TRUE(is_implemented(*parse_index_type("IVF_PQ")));
  EXPECT_TRUE(is_implemented(*parse_index_type("IVF_HNSW_PQ")));
  EXPECT_TRUE(is_implemented(*parse_index_type("IVF_RQ")));
  EXPECT_FALSE(is_implemented(*parse_index_type("IVF_HNSW_RQ")));  // Lance has no graph over RaBitQ codes
  for (const char* bad : {"IVF_BQ", "ivf_pq", "HNSW", "IVF_", ""}) {
    EXPECT_EQ(parse_index_type(bad).status().code(), StatusCode::kNotSupported) << bad;
  }
}

TEST(Registry, ResidualRuleAndSamples) {
  EXPECT_TRUE(uses_residual(QuantizerKind::kPq, Metric::kL2));
  EXPECT_TRUE(uses_residual(QuantizerKind::kPq, Metric::kCosine));
  EXPECT_FALSE(uses_residual(QuantizerKind::kPq, Metric::kDot));
  EXPECT_FALSE(uses_residual(QuantizerKind::kSq, Metric::kL2));
  EXPECT_FALSE(uses_residual(QuantizerKind::kFlat, Metric::kL2));
  EXPECT_FALSE(quantizer(QuantizerKind::kFlat).trains_on_sample);
  EXPECT_TRUE(quantizer(QuantizerKind::kSq).trains_on_sample);
  EXPECT_TRUE(quantizer(QuantizerKind::kPq).trains_on_sample);
  for (Metric m : {Metric::kL2, Metric::kCosine, Metric::kDot}) EXPECT_TRUE(uses_residual(QuantizerKind::kRq, m));
  EXPECT_FALSE(quantizer(QuantizerKind::kRq).trains_on_sample);
}

TEST(FlatCodec, RoundTripScansExactDistances) {
  const Data d = make_data(1);
  for (bool half : {false, true}) {
    auto codec = make_flat_codec(kDim, half);
    EXPECT_EQ(codec->row_bytes(), kDim * (half ? 2 : 4));
    EXPECT_EQ(codec->columns()[0].name, "flat");
    EXPECT_EQ(codec->storage_metadata(), "{\"dim\":16}");
    for (Metric metric : {Metric::kL2, Metric::kCosine, Metric::kDot}) {
      const auto rows = encode(*codec, d, metric);
      auto back = round_trip(*codec, half);
      ASSERT_TRUE(back);
      expect_scans(*back, rows, d, metric, half, [&](size_t i, uint32_t) {
        std::vector<float> v(d.x.begin() + i * kDim, d.x.begin() + (i + 1) * kDim);
        if (half) {
          for (auto& x : v) x = core::round_to_half(x);
        }
        double dot = 0, qq = 0, vv = 0, l2 = 0;
        for (size_t j = 0; j < kDim; ++j) {
          dot += double(d.query[j]) * v[j];
          qq += double(d.query[j]) * d.query[j];
          vv += double(v[j]) * v[j];
          l2 += (double(d.query[j]) - v[j]) * (double(d.query[j]) - v[j]);
        }
        return metric == Metric::kL2 ? l2 : metric == Metric::kDot ? 1 - dot : 1 - dot / std::sqrt(qq * vv);
      });
    }
  }
}

TEST(SqCodec, RoundTripScansCodeSpaceAndReconstructedDistances) {
  const Data d = make_data(2);
  auto model = sq_from_bounds(kDim, -2.5, 3.0);
  ASSERT_TRUE(model.ok());
  auto codec = make_sq_codec(*model);
  EXPECT_EQ(codec->row_bytes(), kDim);
  EXPECT_EQ(codec->storage_metadata(), "{\"dim\":16,\"num_bits\":8,\"bounds\":{\"start\":-2.5,\"end\":3.0}}");
  const double start = -2.5, end = 3.0, scale = (end - start) / 255.0;
  for (Metric metric : {Metric::kL2, Metric::kDot}) {
    const auto rows = encode(*codec, d, metric);
    auto back = round_trip(*codec, false);
    ASSERT_TRUE(back);
    ASSERT_NE(sq_model(*back), nullptr);
    EXPECT_EQ(sq_model(*back)->start, start);
    EXPECT_EQ(sq_model(*back)->end, end);
    expect_scans(*back, rows, d, metric, false, [&](size_t i, uint32_t) {
      double dist = metric == Metric::kDot ? 1.0 : 0.0;
      for (size_t j = 0; j < kDim; ++j) {
        const double code = rows[i * kDim + j];
        if (metric == Metric::kDot) {
          dist -= double(d.query[j]) * (start + code * scale);
        } else {
          const double qc = std::clamp(std::floor((double(d.query[j]) - start) / scale), 0.0, 255.0);
          dist += scale * scale * (qc - code) * (qc - code);
        }
      }
      return dist;
    });
  }
}

TEST(PqCodec, RoundTripScansEqualBruteForceAdc) {
  const Data d = make_data(3);
  for (int nbits : {8, 4}) {
    const int m = 4;
    std::mt19937 rng(nbits);
    std::normal_distribution<float> g;
    std::vector<float> cb((size_t{1} << nbits) * kDim);
    for (auto& v : cb) v = g(rng);
    auto model = pq_from_codebook(cb, kDim, m, nbits);
    ASSERT_TRUE(model.ok());
    auto codec = make_pq_codec(*model);
    EXPECT_EQ(codec->row_bytes(), size_t(m * nbits / 8));
    EXPECT_TRUE(codec->columns()[0].transposed);
    for (Metric metric : {Metric::kL2, Metric::kCosine, Metric::kDot}) {
      const auto rows = encode(*codec, d, metric);
      auto back = round_trip(*codec, false);
      ASSERT_TRUE(back);
      ASSERT_NE(pq_model(*back), nullptr);
      EXPECT_EQ(pq_model(*back)->codebook, cb);
      const bool residual = metric != Metric::kDot;
      expect_scans(*back, rows, d, metric, false, [&](size_t i, uint32_t p) {
        std::vector<float> rec(kDim);
        pq_decode(**model, rows.data() + i * codec->row_bytes(), rec.data());
        double dist = metric == Metric::kDot ? 1.0 : 0.0;
        for (size_t j = 0; j < kDim; ++j) {
          const double r = residual ? double(d.query[j]) - d.centroids[p * kDim + j] : d.query[j];
          dist += metric == Metric::kDot ? -r * rec[j] : (r - rec[j]) * (r - rec[j]);
        }
        return dist;
      });
      // The codes are the nearest codewords of the residual (or of x for dot).
      core::InlineExecutor ex;
      std::vector<float> in(d.x);
      for (size_t i = 0; i < kRows && residual; ++i) {
        for (size_t j = 0; j < kDim; ++j) in[i * kDim + j] -= d.centroids[d.labels[i] * kDim + j];
      }
      std::vector<uint8_t> direct(rows.size());
      ASSERT_TRUE(pq_encode(**model, MatrixView<const float>(in.data(), kRows, kDim), direct, ex).ok());
      EXPECT_EQ(direct, rows);
    }
  }
}

TEST(PqCodec, ReadBackRefusesBadShapes) {
  EXPECT_EQ(read_pq_codec(std::vector<float>(256 * 16), 16, 4, 6, true, "f").status().code(),
            StatusCode::kNotSupported);
  EXPECT_EQ(read_pq_codec(std::vector<float>(256 * 16), 16, 5, 8, true, "f").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(read_pq_codec(std::vector<float>(16), 16, 4, 8, true, "f").status().code(), StatusCode::kCorruption);
  StoredCodec s;
  s.where = "x/auxiliary.idx";
  s.dim = 16;
  s.metadata = "{\"nbits\":8}";
  auto r = codec_from_storage(QuantizerKind::kPq, s);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("x/auxiliary.idx"), std::string::npos);
  EXPECT_NE(r.status().message().find("num_sub_vectors"), std::string::npos);
}

// RQ: the scanner is Lance's raw-query estimator; rows past a partition's last
// full 32-row batch use the exact f32 table, so they equal the estimator
// computed here from the stored pieces; rows in full batches use the u8 table
// (at most half a step per 4-dim segment off). 5-bit estimates are close to the
// true distances.
TEST(RqCodec, RoundTripScansTheRawQueryEstimator) {
  const Data d = make_data(4);
  for (int num_bits : {1, 5}) {
    for (Metric metric : {Metric::kL2, Metric::kDot}) {
      auto m = std::make_shared<RqModel>();
      m->dim = kDim;
      m->num_bits = num_bits;
      for (int i = 0; i < 4 * int(kDim) / 8; ++i) m->signs.push_back(static_cast<uint8_t>(37 * i + 11));
      const auto codec = make_rq_codec(m);
      ASSERT_EQ(codec->columns().size(), num_bits > 1 ? 7u : 4u);
      const auto rows = encode(*codec, d, metric);
      const auto back = round_trip(*codec, false);
      ASSERT_NE(back, nullptr);
      EXPECT_EQ(back->storage_metadata(), codec->storage_metadata());
      std::vector<float> rq(kDim), rc(kDim);
      rq_rotate(*m, d.query.data(), rq.data());
      float sum_q = 0;
      for (float v : rq) sum_q += v;
      const size_t cb = m->code_bytes(), eb = m->ex_code_bytes();
      // The 4-bit table's range: subset sums of each 4-dim group of q'.
      double qmin = 0, qmax = 0;
      for (size_t s = 0; s < kDim / 4; ++s) {
        for (int j = 0; j < 16; ++j) {
          double t = 0;
          for (int b = 0; b < 4; ++b) t += (j >> b & 1) ? rq[s * 4 + b] : 0.0;
          qmin = std::min(qmin, t), qmax = std::max(qmax, t);
        }
      }
      const double bip_error = (kDim / 4) * 0.5 * (qmax - qmin) / 255 + 1e-5;
      auto f32 = [](const uint8_t* p) {
        float v;
        std::memcpy(&v, p, 4);
        return v;
      };
      auto scanner = back->scanner(d.query.data(), metric, false);
      for (uint32_t p = 0; p < kParts; ++p) {
        std::vector<size_t> members;
        const auto stored = partition_rows(*codec, rows, d, p, &members);
        const float* c = d.centroids.data() + p * kDim;
        rq_rotate(*m, c, rc.data());
        scanner->set_partition(c);
        std::vector<float> got(members.size());
        scanner->scan(stored.data(), members.size(), got.data());
        const size_t full = members.size() / 32 * 32;
        for (size_t r = 0; r < members.size(); ++r) {
          const uint8_t* row = stored.data() + r * codec->row_bytes();
          double bip = 0, ex = 0;
          for (size_t i = 0; i < kDim; ++i) bip += ((row[i / 8] >> (i % 8)) & 1) ? rq[i] : 0.0;
          double qc = 0, cc = 0, dist_qc = 0;
          for (size_t i = 0; i < kDim; ++i) {
            qc += rq[i] * rc[i], cc += rc[i] * rc[i];
            dist_qc += (d.query[i] - c[i]) * (d.query[i] - c[i]);
          }
          const double add_scale = metric == Metric::kDot ? qc / cc : 1.0;
          const double add_offset = metric == Metric::kDot ? 1.0 : 0.0;
          const double query_factor = metric == Metric::kDot ? 1.0 - qc : dist_qc;
          double want, scale_used;
          if (num_bits == 1) {
            scale_used = std::abs(f32(row + cb + 4));
            want = (bip - 0.5 * sum_q) * f32(row + cb + 4) + add_scale * (f32(row + cb) - add_offset) + query_factor;
          } else {
            uint8_t e[64];
            rq_unpack_ex_block(m->ex_bits(), row + cb + 12, e);
            for (size_t i = 0; i < kDim; ++i) ex += rq[i] * e[i];
            const double scale = 1 << m->ex_bits();
            scale_used = scale * std::abs(f32(row + cb + 12 + eb + 4));
            want = (scale * bip + ex - (scale - 0.5) * sum_q) * f32(row + cb + 12 + eb + 4) +
                   add_scale * (f32(row + cb + 12 + eb) - add_offset) + query_factor;
          }
          if (r >= full) {
            EXPECT_NEAR(got[r], want, 1e-4 * std::max(1.0, std::abs(want))) << "partition " << p << " row " << r;
          } else {
            EXPECT_NEAR(got[r], want, bip_error * scale_used + 1e-4 * std::max(1.0, std::abs(want)))
                << "partition " << p << " row " << r;
          }
          if (num_bits == 5 && metric == Metric::kL2) {
            const float truth = metric == Metric::kDot
                                    ? 1.0f - simd::dot(d.query.data(), d.x.data() + members[r] * kDim, kDim)
                                    : exact_distance(metric, d.query.data(), d.x.data() + members[r] * kDim, kDim);
            EXPECT_NEAR(got[r], truth, 0.15 * std::max(1.0f, truth)) << "partition " << p << " row " << r;
          }
        }
      }
    }
  }
}

TEST(ModelSections, RoundTrip) {
  auto pqm = pq_from_codebook(std::vector<float>(16 * 8, 1.5f), 8, 2, 4);
  ASSERT_TRUE(pqm.ok());
  auto sqm = sq_from_bounds(8, -1.0, 2.0);
  ASSERT_TRUE(sqm.ok());
  auto rqm = std::make_shared<RqModel>();
  rqm->dim = 8;
  rqm->num_bits = 5;
  rqm->signs = {1, 2, 3, 4};
  for (auto codec : {make_flat_codec(8, false), make_sq_codec(*sqm), make_pq_codec(*pqm), make_rq_codec(rqm)}) {
    ModelSection section;
    section.dim = 8;
    section.header = codec->model_key() ? codec->model_header() : "";
    const auto floats = codec->model_floats();
    std::vector<float> rest(floats.begin(), floats.end());
    rest.push_back(42.0f);  // whatever follows is left alone
    section.floats = rest;
    size_t used = 0;
    auto back = codec_from_model(codec->kind(), section, &used);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(used, floats.size());
    EXPECT_EQ((*back)->storage_metadata(), codec->storage_metadata());
    EXPECT_EQ((*back)->model_header(), codec->model_header());
  }
}

}  // namespace
}  // namespace lancer::quant
