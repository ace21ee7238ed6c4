// The trained model as bytes (staging's model.bin, or a broadcast between
// ranks): "LNCRMDL1", u32 header length, JSON header (type, metric, column,
// sizes, losses, and the codec's own section: "sq" bounds or "pq" shape), the
// f32 centroids, the codec's f32 arrays (the PQ codebook), and an FNV-1a 64
// checksum of everything before it. Same machine byte order only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ivf/index_files.h"

namespace lancer::pipeline {

std::string serialize_model(const ivf::IndexModel& model);
// `what` names the source in errors (a path).
Result<std::shared_ptr<const ivf::IndexModel>> parse_model(const std::string& bytes, const std::string& what);
uint64_t model_checksum(const std::string& serialized);

}  // namespace lancer::pipeline
