// A dataset version as JSON: versions, schema, fragments and their files,
// indexes. `lancer inspect --json` prints it; lancer.inspect() returns it.
#pragma once

#include <nlohmann/json.hpp>

#include "dataset/dataset.h"

namespace lancer::dataset {

Result<nlohmann::ordered_json> describe(const Dataset& ds);

}  // namespace lancer::dataset
