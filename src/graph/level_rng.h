// Lance's HNSW level assignment, reproduced draw for draw (format notes 3.3):
// rand 0.9's SmallRng (Xoshiro256++ seeded through SplitMix64) with seed 42,
// restarted for every graph, one f32 draw per node in id order.
#pragma once

#include <cstdint>
#include <vector>

namespace lancer::graph {

// The level of each of `num_nodes` nodes: min(floor(-ln(u) / ln(m)), max_level - 1).
std::vector<uint16_t> hnsw_levels(uint32_t num_nodes, uint32_t m, uint32_t max_level);

// The first node reaching the highest level (0 for an empty list), Lance's entry point.
uint32_t hnsw_entry_point(const std::vector<uint16_t>& levels);

}  // namespace lancer::graph
