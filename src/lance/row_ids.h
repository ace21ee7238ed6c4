// Stable row-id sequences (format notes section 3.10): a serialized
// RowIdSequence lists the stable id of every physical row of a fragment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::lance {

// Decodes every segment in order. `what` names the source in errors. The ids
// are counted before anything is allocated: more than 2^32 (a fragment's row
// offsets are 32-bit) is Corruption. Pass the fragment's physical_rows as
// `expected_count` to require that length exactly, which also bounds memory.
Result<std::vector<uint64_t>> decode_row_id_sequence(const uint8_t* data, size_t size, const std::string& what,
                                                     std::optional<uint64_t> expected_count = std::nullopt);

}  // namespace lancer::lance
