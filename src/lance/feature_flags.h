// Manifest feature flags (format notes 3.6). A whitelist, never a blacklist:
// bits lancer does not implement are refused by name.
#pragma once

#include <cstdint>
#include <string>

#include "lancer/status.h"

namespace lancer::lance {

inline constexpr uint64_t kFlagDeletionFiles = 1;
inline constexpr uint64_t kFlagStableRowIds = 2;
inline constexpr uint64_t kFlagUseV2Format = 4;
inline constexpr uint64_t kFlagTableConfig = 8;
inline constexpr uint64_t kFlagTransactionFilesDisabled = 32;

// NotSupported naming every unknown bit, or OK. `what` is "reader" or "writer".
Status check_feature_flags(uint64_t flags, const std::string& what);
// "deletion files, stable row ids" for the bits set.
std::string describe_feature_flags(uint64_t flags);

}  // namespace lancer::lance
