#include "lance/feature_flags.h"

#include <vector>

namespace lancer::lance {

namespace {

constexpr uint64_t kSupported =
    kFlagDeletionFiles | kFlagStableRowIds | kFlagUseV2Format | kFlagTableConfig | kFlagTransactionFilesDisabled;

const char* flag_name(int bit) {
  switch (bit) {
    case 0: return "deletion files (1)";
    case 1: return "stable row ids (2)";
    case 2: return "use v2 format (4)";
    case 3: return "table config (8)";
    case 4: return "multiple base paths (16)";
    case 5: return "transaction files disabled (32)";
    case 6: return "data overlay files (64)";
    case 7: return "covering index metadata (128)";
    case 8: return "mixed data file versions (256)";
    case 9: return "fragment reuse with stable row ids (512)";
    case 10: return "fragment reuse index (1024)";
    case 11: return "semantic types (2048)";
    default: return nullptr;
  }
}

std::string names(uint64_t flags) {
  std::string out;
  for (int bit = 0; bit < 64; ++bit) {
    if (!(flags >> bit & 1)) continue;
    if (!out.empty()) out += ", ";
    const char* name = flag_name(bit);
    out += name ? name : "unknown flag " + std::to_string(uint64_t{1} << bit);
  }
  return out;
}

}  // namespace

Status check_feature_flags(uint64_t flags, const std::string& what) {
  const uint64_t unknown = flags & ~kSupported;
  if (unknown == 0) return Status::OK();
  return Status::NotSupported("the dataset's " + what + " feature flags (" + std::to_string(flags) +
                              ") include features lancer does not implement: " + names(unknown));
}

std::string describe_feature_flags(uint64_t flags) { return flags == 0 ? "none" : names(flags); }

}  // namespace lancer::lance
