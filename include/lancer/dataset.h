// Public read-only views of a Lance dataset (what `lancer inspect` prints).
// Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lancer/status.h"

namespace lancer {

// The dataset at `version` (latest when absent) described as JSON text:
// versions, schema, fragments, indices (the same as `lancer inspect --json`).
Result<std::string> describe_dataset(const std::string& uri, std::optional<uint64_t> version = std::nullopt);

}  // namespace lancer
