#include "graph/hnsw.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include "core/executor.h"
#include "graph/hnsw_internal.h"
#include "graph/hnsw_search.h"
#include "graph/level_rng.h"
#include "linalg/norms.h"
#include "simd/lanes16.h"
#include "simd/lanes16_rows.h"

namespace lancer::graph {
namespace {

// n x dim points around `clusters` Gaussian centres (fixed seed).
std::vector<float> clustered(size_t n, size_t dim, size_t clusters, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = 4.0f * normal(rng);
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % clusters;
    for (size_t j = 0; j < dim; ++j) x[i * dim + j] = centres[c * dim + j] + normal(rng);
  }
  return x;
}

bool same_graph(const HnswGraph& a, const HnswGraph& b) {
  if (a.num_nodes != b.num_nodes || a.entry_point != b.entry_point || a.levels.size() != b.levels.size()) return false;
  for (size_t l = 0; l < a.levels.size(); ++l) {
    const auto &x = a.levels[l], &y = b.levels[l];
    if (x.nodes != y.nodes || x.offsets != y.offsets || x.neighbors != y.neighbors) return false;
    if (x.distances.size() != y.distances.size() ||
        (!x.distances.empty() &&  // memcmp may not take the null data of an empty vector
         std::memcmp(x.distances.data(), y.distances.data(), x.distances.size() * sizeof(float)) != 0)) {
      return false;
    }
  }
  return true;
}

TEST(HnswLevels, ReproducesLanceSeededLevels) {
  // Format notes 3.3: partition 0 of 1,417 nodes, m = 20, max_level = 7.
  const auto levels = hnsw_levels(1417, 20, 7);
  EXPECT_EQ(hnsw_entry_point(levels), 364u);
  std::vector<uint32_t> upper;
  size_t at_two = 0;
  for (uint32_t i = 0; i < levels.size(); ++i) {
    if (levels[i] >= 1) upper.push_back(i);
    if (levels[i] >= 2) ++at_two;
  }
  EXPECT_EQ(upper.size(), 65u);
  EXPECT_EQ(at_two, 1u);
  ASSERT_GE(upper.size(), 6u);
  EXPECT_EQ(std::vector<uint32_t>(upper.begin(), upper.begin() + 6), (std::vector<uint32_t>{44, 69, 76, 84, 102, 147}));
  // Every graph restarts the generator: a prefix has the same levels.
  const auto prefix = hnsw_levels(400, 20, 7);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), levels.begin()));
  EXPECT_EQ(hnsw_entry_point(prefix), 364u);
  // max_level 1 keeps everything on level 0.
  const auto flat = hnsw_levels(1000, 20, 1);
  EXPECT_TRUE(std::all_of(flat.begin(), flat.end(), [](uint16_t l) { return l == 0; }));
}

TEST(Hnsw, ParamsValidation) {
  EXPECT_NE(check_hnsw_params({20, 150, 0}).message().find("max_level"), std::string::npos);
  EXPECT_NE(check_hnsw_params({3, 150, 7}).message().find("m must be at least 4"), std::string::npos);
  EXPECT_NE(check_hnsw_params({20, 19, 7}).message().find("ef_construction"), std::string::npos);
  EXPECT_TRUE(check_hnsw_params({4, 4, 1}).ok());
  std::vector<float> x(8, 0.0f);
  EXPECT_FALSE(build_hnsw({x.data(), 2, 4}, GraphDistance::kL2, {20, 10, 7}).ok());
  x[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(build_hnsw({x.data(), 2, 4}, GraphDistance::kL2, {}).ok());
}

TEST(Hnsw, EmptyAndSingleNode) {
  auto empty = build_hnsw({nullptr, 0, 8}, GraphDistance::kL2, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->num_nodes, 0u);
  EXPECT_TRUE(empty->levels.empty());
  EXPECT_EQ(empty->num_rows(), 0u);
  std::vector<float> one(8, 1.0f);
  auto single = build_hnsw({one.data(), 1, 8}, GraphDistance::kL2, {});
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->levels.size(), 1u);
  EXPECT_EQ(single->entry_point, 0u);
  EXPECT_EQ(single->levels[0].nodes, std::vector<uint32_t>{0});
  EXPECT_TRUE(single->levels[0].neighbors.empty());
  auto score = [](const uint32_t*, size_t n, float* out) { std::fill(out, out + n, 1.0f); };
  EXPECT_TRUE(HnswSearcher(*empty).search(10, 15, score).empty());
  const auto found = HnswSearcher(*single).search(10, 15, score);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].node, 0u);
  EXPECT_EQ(hnsw_partition_json(*single, {}),
            "{\"entry_point\":0,\"params\":{\"max_level\":7,\"m\":20,\"ef_construction\":150,\"prefetch_distance\":2},"
            "\"level_offsets\":[0,1,1,1,1,1,1,1]}");
}

TEST(Hnsw, StructureMatchesLance) {
  const size_t n = 1500, dim = 16;
  const auto x = clustered(n, dim, 10, 7);
  const HnswParams p{8, 40, 5};
  auto g = build_hnsw({x.data(), n, dim}, GraphDistance::kL2, p);
  ASSERT_TRUE(g.ok()) << g.status().message();
  const auto levels = hnsw_levels(n, p.m, p.max_level);
  EXPECT_EQ(g->entry_point, hnsw_entry_point(levels));
  ASSERT_EQ(g->levels.size(), size_t{levels[g->entry_point]} + 1);
  std::vector<double> mean(dim, 0.0);
  for (size_t i = 0; i < n * dim; ++i) mean[i % dim] += x[i] / double(n);
  for (size_t l = 0; l < g->levels.size(); ++l) {
    const auto& level = g->levels[l];
    std::vector<uint32_t> expected;
    for (uint32_t i = 0; i < n; ++i) {
      if (levels[i] >= l) expected.push_back(i);
    }
    EXPECT_EQ(level.nodes, expected) << "level " << l;
    ASSERT_EQ(level.offsets.size(), level.nodes.size() + 1);
    const size_t cap = l == 0 ? 2 * p.m : p.m;
    for (size_t r = 0; r < level.nodes.size(); ++r) {
      const size_t degree = level.offsets[r + 1] - level.offsets[r];
      EXPECT_LE(degree, cap);
      if (l == 0) {
        EXPECT_GE(degree, 1u);
      }
      for (uint64_t e = level.offsets[r]; e < level.offsets[r + 1]; ++e) {
        const uint32_t nb = level.neighbors[e];
        EXPECT_NE(nb, level.nodes[r]);
        EXPECT_GE(levels[nb], l);  // edges stay on the level
        // The edge's distance is the builder's (ExactCandidatesMatchThePlainAlgorithm): |a|^2 + |b|^2 - 2 a.b
        // over centred rows, whose rounding error grows with those norms (Higham 3.5), not with the distance.
        double exact = 0, norms = 0;
        for (size_t j = 0; j < dim; ++j) {
          const double a = x[nb * dim + j] - mean[j], b = x[level.nodes[r] * dim + j] - mean[j];
          exact += (a - b) * (a - b);
          norms += a * a + b * b;
        }
        EXPECT_NEAR(level.distances[e], exact, (dim + 2) * std::ldexp(norms, -23));
      }
    }
  }
  // level_offsets: max_level + 1 cumulative counts ending at the row count.
  const std::string json = hnsw_partition_json(*g, p);
  EXPECT_NE(json.find("\"max_level\":5,\"m\":8,\"ef_construction\":40"), std::string::npos);
  const std::string tail = std::to_string(g->num_rows()) + "]}";
  EXPECT_EQ(json.substr(json.size() - tail.size()), tail);
}

double recall_at_10(const std::vector<float>& x, size_t n, size_t dim, GraphDistance d, size_t ef,
                    internal::Candidates candidates = internal::Candidates::kBySize, HnswParams params = {}) {
  auto g = internal::build_hnsw({x.data(), n, dim}, d, params, candidates);
  EXPECT_TRUE(g.ok());
  auto distance = [&](const float* q, uint32_t i) {
    return d == GraphDistance::kL2 ? linalg::portable_l2_sqr(q, &x[size_t{i} * dim], dim)
                                   : 1.0f - linalg::portable_dot(q, &x[size_t{i} * dim], dim);
  };
  HnswSearcher searcher(*g);
  const auto queries = clustered(100, dim, 20, 99);  // same centre seed? no: fresh points near fresh centres
  size_t hits = 0;
  for (size_t qi = 0; qi < 100; ++qi) {
    const float* q = &x[(qi * 37) % n * dim];  // queries drawn from the data's neighbourhoods
    std::vector<float> qv(q, q + dim);
    for (size_t j = 0; j < dim; ++j) qv[j] += 0.1f * queries[qi * dim + j] / 4.0f;
    std::vector<ScoredNode> exact(n);
    for (uint32_t i = 0; i < n; ++i) exact[i] = {distance(qv.data(), i), i};
    std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
    auto found = searcher.search(10, ef, [&](const uint32_t* ids, size_t m, float* out) {
      for (size_t i = 0; i < m; ++i) out[i] = distance(qv.data(), ids[i]);
    });
    EXPECT_EQ(found.size(), 10u);
    EXPECT_TRUE(std::is_sorted(found.begin(), found.end()));
    for (size_t a = 0; a < 10; ++a) {
      for (const auto& f : found) hits += f.node == exact[a].node;
    }
  }
  return hits / 1000.0;
}

TEST(Hnsw, RecallAgainstBruteForce) {
  const size_t n = 5000, dim = 32;
  const auto x = clustered(n, dim, 50, 3);
  const double l2 = recall_at_10(x, n, dim, GraphDistance::kL2, 64);
  EXPECT_GE(l2, 0.95);
  auto normalized = x;
  for (size_t i = 0; i < n; ++i) {
    float* r = &normalized[i * dim];
    const float norm = std::sqrt(linalg::portable_dot(r, r, dim));
    for (size_t j = 0; j < dim; ++j) r[j] /= norm;
  }
  const double cosine = recall_at_10(normalized, n, dim, GraphDistance::kOneMinusDot, 64);
  EXPECT_GE(cosine, 0.95);
  std::printf("recall@10 ef=64: l2 %.3f, cosine %.3f\n", l2, cosine);
}

// The small-graph path (exact candidates) and the beam on the same partition:
// both find the neighbours, and the exact candidates are no worse.
TEST(Hnsw, ExactCandidatesAndBeamBothReachHighRecall) {
  const size_t n = 2500, dim = 64;
  const auto x = clustered(n, dim, 3, 5);  // wide clusters in 64 dimensions: not every query is easy
  const double exact = recall_at_10(x, n, dim, GraphDistance::kL2, 15, internal::Candidates::kExact);
  const double beam = recall_at_10(x, n, dim, GraphDistance::kL2, 15, internal::Candidates::kBeam);
  const double by_size = recall_at_10(x, n, dim, GraphDistance::kL2, 15);
  std::printf("recall@10 ef=15, n %zu: exact candidates %.3f, beam %.3f\n", n, exact, beam);
  EXPECT_GE(exact, 0.9);
  EXPECT_GE(beam, 0.9);
  EXPECT_GE(exact, beam - 0.01);
  EXPECT_EQ(by_size, exact);  // n is under the size rule
}

// The size rule switches at kExactNodes: the graph of kExactNodes nodes is the
// exact-candidates graph, one node more gives the beam's; both search well.
TEST(Hnsw, SizeRuleBoundary) {
  const size_t dim = 8, n = internal::kExactNodes + 1;
  const auto x = clustered(n, dim, 40, 13);
  const HnswParams p{8, 32, 4};  // small, so the beam build stays quick
  for (size_t rows : {n - 1, n}) {
    auto by_size = build_hnsw({x.data(), rows, dim}, GraphDistance::kL2, p);
    auto exact = internal::build_hnsw({x.data(), rows, dim}, GraphDistance::kL2, p, internal::Candidates::kExact);
    auto beam = internal::build_hnsw({x.data(), rows, dim}, GraphDistance::kL2, p, internal::Candidates::kBeam);
    ASSERT_TRUE(by_size.ok() && exact.ok() && beam.ok());
    EXPECT_FALSE(same_graph(*exact, *beam)) << rows;  // the two paths differ at this size
    EXPECT_TRUE(same_graph(*by_size, rows <= internal::kExactNodes ? *exact : *beam)) << rows;
    const double recall = recall_at_10(x, rows, dim, GraphDistance::kL2, 32, internal::Candidates::kBySize, p);
    EXPECT_GE(recall, 0.9) << rows;
  }
}

// The exact path's distance (hnsw.cc, fill_matrix) written the plain way: rows
// centred on their mean (l2), one std::fma chain in index order per pair.
std::vector<float> reference_distances(const std::vector<float>& x, size_t n, size_t dim, GraphDistance d) {
  std::vector<float> c(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n * dim));
  if (d == GraphDistance::kL2) {
    for (size_t j = 0; j < dim; ++j) {
      float mean = 0;  // in float, in row order
      for (size_t i = 0; i < n; ++i) mean += x[i * dim + j];
      mean /= static_cast<float>(n);
      for (size_t i = 0; i < n; ++i) c[i * dim + j] = x[i * dim + j] - mean;
    }
  }
  auto chain = [&](size_t a, size_t b) {
    float v = 0;
    for (size_t j = 0; j < dim; ++j) v = std::fma(c[a * dim + j], c[b * dim + j], v);
    return v;
  };
  std::vector<float> out(n * n);
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (d == GraphDistance::kL2) {
        const float v = (chain(a, a) + chain(b, b)) - 2.0f * chain(a, b);
        out[a * n + b] = std::max(v, 0.0f);
      } else {
        out[a * n + b] = 1.0f - chain(a, b);
      }
    }
  }
  return out;
}

// The exact-candidates build written the plain way: Algorithm 4 from scratch
// on every selection, the plain distances above, std::sort. The builder's
// shortcuts (verdicts, witnesses, merged lists, radix sorts, the gram kernel,
// the mirrored matrix) must give the same bytes.
HnswGraph reference_exact_build(const std::vector<float>& x, size_t n, size_t dim, GraphDistance d,
                                const HnswParams& p) {
  using Entry = std::pair<float, uint32_t>;  // (distance, id): the build's order
  const std::vector<float> matrix = reference_distances(x, n, dim, d);
  auto dist = [&](uint32_t a, uint32_t b) { return matrix[size_t{a} * n + b]; };
  auto select = [&](std::vector<Entry> cands, size_t k) {
    if (cands.size() <= k) return cands;
    std::sort(cands.begin(), cands.end());
    std::vector<Entry> kept, pruned;
    for (const Entry& c : cands) {
      if (kept.size() >= k) break;
      bool diverse = true;
      for (const Entry& e : kept) diverse = diverse && c.first < dist(c.second, e.second);
      (diverse ? kept : pruned).push_back(c);
    }
    for (size_t i = 0; kept.size() < k && i < pruned.size(); ++i) kept.push_back(pruned[i]);
    return kept;
  };
  const auto levels = hnsw_levels(n, p.m, p.max_level);
  const uint32_t entry = hnsw_entry_point(levels), top = levels[entry];
  std::vector<std::vector<std::vector<Entry>>> lists(top + 1, std::vector<std::vector<Entry>>(n));
  for (uint32_t node = 0; node < n; ++node) {
    if (node == entry) continue;
    std::vector<std::vector<Entry>> own(levels[node] + 1);
    for (uint32_t level = 0; level <= levels[node]; ++level) {
      std::vector<Entry> cands;
      for (uint32_t j = 0; j < n; ++j) {
        if ((j < node || j == entry) && levels[j] >= level) cands.push_back({dist(node, j), j});
      }
      std::sort(cands.begin(), cands.end());
      if (cands.size() > p.ef_construction) cands.resize(p.ef_construction);
      own[level] = lists[level][node] = select(cands, p.m);
    }
    for (uint32_t level = 0; level <= levels[node]; ++level) {
      const size_t limit = level == 0 ? 2 * p.m : p.m;
      for (const Entry& s : own[level]) {
        auto& l = lists[level][s.second];
        l.push_back({s.first, node});
        if (l.size() > limit) l = select(l, limit);
      }
    }
  }
  HnswGraph g;
  g.num_nodes = static_cast<uint32_t>(n);
  g.entry_point = entry;
  g.levels.resize(top + 1);
  for (uint32_t level = 0; level <= top; ++level) {
    auto& out = g.levels[level];
    out.offsets.push_back(0);
    for (uint32_t node = 0; node < n; ++node) {
      if (levels[node] < level) continue;
      out.nodes.push_back(node);
      for (const Entry& e : lists[level][node]) {
        out.neighbors.push_back(e.second);
        out.distances.push_back(e.first);
      }
      out.offsets.push_back(out.neighbors.size());
    }
  }
  return g;
}

TEST(Hnsw, ExactCandidatesMatchThePlainAlgorithm) {
  const size_t dim = 20;
  for (const auto& [n, p] : {std::pair<size_t, HnswParams>{700, {}}, {900, {6, 24, 4}}, {1200, {4, 8, 3}}}) {
    const auto x = clustered(n, dim, 6, static_cast<uint32_t>(n));
    for (GraphDistance d : {GraphDistance::kL2, GraphDistance::kOneMinusDot}) {
      auto g = internal::build_hnsw({x.data(), n, dim}, d, p, internal::Candidates::kExact);
      ASSERT_TRUE(g.ok());
      EXPECT_TRUE(same_graph(*g, reference_exact_build(x, n, dim, d, p))) << n << " " << static_cast<int>(d);
    }
  }
}

// The exact path's distance is |a|^2 + |b|^2 - 2 a.b over rows centred on their
// mean. Points far from the origin and close together (an IVF partition around
// its centroid, here 1000 units out with neighbours 0.01 apart) would lose
// every digit of their distances to cancellation without the centring; exact
// duplicates are at distance 0 and reach each other.
TEST(Hnsw, DuplicatesAndCloseNeighboursFarFromTheOrigin) {
  const size_t n = 2000, dim = 64;
  auto x = clustered(n, dim, 10, 21);
  for (float& v : x) v = 1000.0f + 0.01f * v;
  for (size_t i = 1; i < n; i += 7) std::copy_n(&x[(i - 1) * dim], dim, &x[i * dim]);  // twins (i - 1, i)
  auto g = build_hnsw({x.data(), n, dim}, GraphDistance::kL2, {});
  ASSERT_TRUE(g.ok());
  const HnswGraph::Level& l0 = g->levels[0];
  for (size_t i = 1; i < n; i += 7) {
    bool found = false;
    for (uint64_t e = l0.offsets[i]; e < l0.offsets[i + 1]; ++e) {
      if (l0.neighbors[e] == i - 1) {
        found = true;
        EXPECT_EQ(l0.distances[e], 0.0f) << i;
      }
    }
    EXPECT_TRUE(found) << "node " << i << " lacks its twin";
  }
  // Search with distances in double: recall against brute force in double.
  auto exact = [&](const float* q, uint32_t i) {
    double s = 0;
    for (size_t j = 0; j < dim; ++j)
      s += (double(q[j]) - x[size_t{i} * dim + j]) * (double(q[j]) - x[size_t{i} * dim + j]);
    return static_cast<float>(s);
  };
  HnswSearcher searcher(*g);
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.002f);
  size_t hits = 0, total = 0;
  for (size_t qi = 0; qi < 100; ++qi) {
    std::vector<float> q(&x[(qi * 19 + 3) % n * dim], &x[(qi * 19 + 3) % n * dim] + dim);
    for (float& v : q) v += normal(rng);
    std::vector<ScoredNode> truth(n);
    for (uint32_t i = 0; i < n; ++i) truth[i] = {exact(q.data(), i), i};
    std::partial_sort(truth.begin(), truth.begin() + 10, truth.end());
    auto found = searcher.search(10, 64, [&](const uint32_t* ids, size_t m, float* out) {
      for (size_t i = 0; i < m; ++i) out[i] = exact(q.data(), ids[i]);
    });
    for (size_t a = 0; a < 10; ++a) {
      for (const auto& f : found) hits += f.node == truth[a].node;
    }
    total += 10;
  }
  const double recall = static_cast<double>(hits) / static_cast<double>(total);
  std::printf("recall@10 ef=64 far from the origin: %.3f\n", recall);
  EXPECT_GE(recall, 0.95);
}

// An executor spreads a large graph's distance matrix over its threads; the
// bytes are those of the build on one thread, also when the builds themselves
// run on the pool's threads (the matrices' parallel_for then nests).
TEST(Hnsw, SameBytesWithAnExecutor) {
  const size_t n = 1300, dim = 40;  // 82 tiles per row: spread
  const auto x = clustered(n, dim, 12, 17);
  core::ThreadPool pool(3);
  for (GraphDistance d : {GraphDistance::kL2, GraphDistance::kOneMinusDot}) {
    auto alone = build_hnsw({x.data(), n, dim}, d, {});
    auto spread = build_hnsw({x.data(), n, dim}, d, {}, &pool);
    ASSERT_TRUE(alone.ok() && spread.ok());
    EXPECT_TRUE(same_graph(*alone, *spread));
    std::vector<HnswGraph> nested(4);
    pool.parallel_for(nested.size(), 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        auto g = build_hnsw({x.data(), n - 100 * i, dim}, d, {}, &pool);
        if (g.ok()) nested[i] = std::move(*g);
      }
    });
    EXPECT_TRUE(same_graph(*alone, nested[0]));
    auto smaller = build_hnsw({x.data(), n - 300, dim}, d, {});
    ASSERT_TRUE(smaller.ok());
    EXPECT_TRUE(same_graph(*smaller, nested[3]));
  }
}

TEST(Hnsw, SameBytesTwiceAndUnderConcurrentBuilds) {
  const size_t n = 3000, dim = 24;
  const auto x = clustered(n, dim, 20, 11);
  auto first = build_hnsw({x.data(), n, dim}, GraphDistance::kL2, {});
  ASSERT_TRUE(first.ok());
  auto second = build_hnsw({x.data(), n, dim}, GraphDistance::kL2, {});
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(same_graph(*first, *second));
  // The beam path too (graphs above the size rule), scoring without the distance matrix.
  auto beam1 = internal::build_hnsw({x.data(), n, dim}, GraphDistance::kOneMinusDot, {}, internal::Candidates::kBeam);
  auto beam2 = internal::build_hnsw({x.data(), n, dim}, GraphDistance::kOneMinusDot, {}, internal::Candidates::kBeam);
  ASSERT_TRUE(beam1.ok() && beam2.ok());
  EXPECT_TRUE(same_graph(*beam1, *beam2));
  std::vector<HnswGraph> graphs(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < graphs.size(); ++t) {
    threads.emplace_back([&, t] {
      // Threads 1..3 build other graphs alongside (a different prefix of the data).
      const size_t rows = t == 0 ? n : 500 + 300 * t;
      auto g = build_hnsw({x.data(), rows, dim}, GraphDistance::kL2, {});
      if (g.ok()) graphs[t] = std::move(*g);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(same_graph(*first, graphs[0]));
  auto small = build_hnsw({x.data(), 800, dim}, GraphDistance::kL2, {});
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE(same_graph(*small, graphs[1]));
}

}  // namespace
}  // namespace lancer::graph

namespace lancer::graph {
namespace {

TEST(Lanes16, SameBitsAsPortableKernels) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 10.0f);
  for (size_t d : {1, 3, 15, 16, 17, 31, 32, 100, 128, 129, 768}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> a(d), b(d);
      for (size_t j = 0; j < d; ++j) {
        a[j] = normal(rng);
        b[j] = normal(rng);
      }
      const float l2 = simd::lanes16_l2_sqr(a.data(), b.data(), d),
                  ref_l2 = linalg::portable_l2_sqr(a.data(), b.data(), d);
      const float dot = simd::lanes16_dot(a.data(), b.data(), d), ref_dot = linalg::portable_dot(a.data(), b.data(), d);
      ASSERT_EQ(std::memcmp(&l2, &ref_l2, 4), 0) << "d " << d;
      ASSERT_EQ(std::memcmp(&dot, &ref_dot, 4), 0) << "d " << d;
    }
  }
}

// The rows kernels give lanes16's bits at every SIMD level the CPU has.
TEST(Lanes16, RowsKernelsSameBits) {
  std::mt19937 rng(23);
  std::normal_distribution<float> normal(0.0f, 10.0f);
  for (size_t d : {1, 7, 16, 17, 33, 128, 130}) {
    const size_t rows = 11;
    std::vector<float> base(rows * d), q(d);
    for (float& v : base) v = normal(rng);
    for (float& v : q) v = normal(rng);
    const std::vector<uint32_t> ids{3, 0, 10, 4, 4, 9, 1, 2, 8, 7, 5, 6, 10};  // blocks of 8, 4 and 1
    for (auto level : {simd::SimdLevel::kScalar, simd::SimdLevel::kAvx2, simd::SimdLevel::kAvx512}) {
      for (bool l2 : {true, false}) {
        std::vector<float> out(ids.size());
        simd::lanes16_rows(l2, level)(q.data(), base.data(), d, ids.data(), ids.size(), out.data());
        for (size_t i = 0; i < ids.size(); ++i) {
          const float* b = &base[ids[i] * d];
          const float ref = l2 ? simd::lanes16_l2_sqr(q.data(), b, d) : simd::lanes16_dot(q.data(), b, d);
          ASSERT_EQ(std::memcmp(&out[i], &ref, 4), 0) << "d " << d << " level " << static_cast<int>(level);
        }
      }
    }
  }
}

}  // namespace
}  // namespace lancer::graph
