// Searching an HnswGraph as Lance does (format notes 3.1): greedy descent from
// the entry point over the upper levels, then an ef-bounded beam on level 0.
// The caller scores through its own quantizer: `score(ids, n, out)` writes the
// query's distance to each of the n node ids into out[0..n). A template, so the
// scorer inlines; neighbours are scored a whole list at a time. Results are
// ordered by (distance, node id). Not thread-safe: one searcher per thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "graph/hnsw.h"

namespace lancer::graph {

struct ScoredNode {
  float distance;
  uint32_t node;
};
inline bool operator<(const ScoredNode& a, const ScoredNode& b) {
  return a.distance < b.distance || (a.distance == b.distance && a.node < b.node);
}

class HnswSearcher {
 public:
  explicit HnswSearcher(const HnswGraph& graph) : g_(graph), visited_(graph.num_nodes, 0) {}

  // The k nearest nodes found with a level-0 beam of max(ef, k), ascending.
  template <typename Score>
  std::vector<ScoredNode> search(size_t k, size_t ef, Score&& score);

 private:
  // The neighbours of `node` at `level` (empty when it is not on that level).
  std::pair<const uint32_t*, size_t> neighbors(size_t level, uint32_t node) const {
    const HnswGraph::Level& l = g_.levels[level];
    size_t row = node;
    if (level > 0) {
      auto it = std::lower_bound(l.nodes.begin(), l.nodes.end(), node);
      if (it == l.nodes.end() || *it != node) return {nullptr, 0};
      row = static_cast<size_t>(it - l.nodes.begin());
    }
    return {l.neighbors.data() + l.offsets[row], l.offsets[row + 1] - l.offsets[row]};
  }

  const HnswGraph& g_;
  std::vector<uint32_t> visited_;
  uint32_t epoch_ = 0;
  std::vector<uint32_t> ids_;
  std::vector<float> scores_;
  std::vector<ScoredNode> candidates_, results_;
};

template <typename Score>
std::vector<ScoredNode> HnswSearcher::search(size_t k, size_t ef, Score&& score) {
  if (g_.num_nodes == 0 || k == 0 || g_.levels.empty()) return {};
  ef = std::max(ef, k);
  if (++epoch_ == 0) {
    std::fill(visited_.begin(), visited_.end(), 0);
    epoch_ = 1;
  }
  ScoredNode ep{0, g_.entry_point};
  score(&ep.node, 1, &ep.distance);
  for (size_t level = g_.levels.size() - 1; level > 0; --level) {
    for (bool moved = true; moved;) {
      moved = false;
      auto [nbs, n] = neighbors(level, ep.node);
      scores_.resize(n);
      score(nbs, n, scores_.data());
      for (size_t i = 0; i < n; ++i) {
        const ScoredNode c{scores_[i], nbs[i]};
        if (c < ep) {
          ep = c;
          moved = true;
        }
      }
    }
  }
  auto farther = [](const ScoredNode& a, const ScoredNode& b) { return b < a; };
  candidates_.assign(1, ep);  // min-heap
  results_.assign(1, ep);     // max-heap of at most ef
  visited_[ep.node] = epoch_;
  while (!candidates_.empty()) {
    std::pop_heap(candidates_.begin(), candidates_.end(), farther);
    const ScoredNode current = candidates_.back();
    candidates_.pop_back();
    if (results_.size() == ef && results_.front() < current) break;
    auto [nbs, n] = neighbors(0, current.node);
    ids_.clear();
    for (size_t i = 0; i < n; ++i) {
      if (nbs[i] >= g_.num_nodes || visited_[nbs[i]] == epoch_) continue;
      visited_[nbs[i]] = epoch_;
      ids_.push_back(nbs[i]);
    }
    scores_.resize(ids_.size());
    score(ids_.data(), ids_.size(), scores_.data());
    for (size_t i = 0; i < ids_.size(); ++i) {
      const ScoredNode c{scores_[i], ids_[i]};
      if (results_.size() < ef || c < results_.front()) {
        if (results_.size() == ef) {
          std::pop_heap(results_.begin(), results_.end());
          results_.pop_back();
        }
        results_.push_back(c);
        std::push_heap(results_.begin(), results_.end());
        candidates_.push_back(c);
        std::push_heap(candidates_.begin(), candidates_.end(), farther);
      }
    }
  }
  std::sort_heap(results_.begin(), results_.end());
  if (results_.size() > k) results_.resize(k);
  return results_;
}

}  // namespace lancer::graph
