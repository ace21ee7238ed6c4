// Random access to a vector column by row address ((fragment << 32) | offset),
// e.g. to re-rank search candidates with exact distances. Reads only the rows
// asked for (one page reader per touched page). Not for stable row ids.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dataset/dataset.h"

namespace lancer::dataset {

// Row i of the result (row_bytes of the column) is the vector at addresses[i];
// valid[i] is 0 for a null vector. NotFound for an address outside the dataset.
Status take_vectors(const Dataset& ds, const VectorColumn& column, std::span<const uint64_t> addresses,
                    std::vector<uint8_t>* values, std::vector<uint8_t>* valid);

}  // namespace lancer::dataset
