// Random access to a vector column by row address ((fragment << 32) | offset),
// e.g. to re-rank search candidates with exact distances. Reads only the rows
// asked for (one page reader per touched page). Not for stable row ids.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "dataset/dataset.h"
#include "dataset/fragment.h"

namespace lancer::dataset {

// Row i of the result (row_bytes of the column) is the vector at addresses[i];
// valid[i] is 0 for a null vector. NotFound for an address outside the dataset.
Status take_vectors(const Dataset& ds, const VectorColumn& column, std::span<const uint64_t> addresses,
                    std::vector<uint8_t>* values, std::vector<uint8_t>* valid);

// The rows at physical `offsets` (ascending, unique) of fragment `index` (its
// position in the manifest; works with stable row ids too): row i of `values`
// (row_bytes apart) is offsets[i]'s vector, valid[i] 0 for a null one. Rows
// at most `max_gap` rows apart are read with one read (the rows between are
// read and dropped): many small reads of a dense selection cost more than
// the bytes between them. `scratch` holds those runs: pass the same one to many calls.
Status take_fragment_rows(const Dataset& ds, const VectorColumn& column, size_t index,
                          std::span<const uint32_t> offsets, uint64_t max_gap, uint8_t* values, uint8_t* valid,
                          core::UninitVector<uint8_t>* scratch);

// The same from a column already located (Fragment::locate): a caller taking rows of one
// fragment many times opens its data file once.
Status take_located_rows(const ColumnLocation& location, const VectorColumn& column, std::span<const uint32_t> offsets,
                         uint64_t max_gap, uint8_t* values, uint8_t* valid, core::UninitVector<uint8_t>* scratch);

}  // namespace lancer::dataset
