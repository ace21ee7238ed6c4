// Dataset versions and manifest files (format notes 3.1, 3.2, 3.7): listing
// `_versions/` under either naming scheme and decoding one manifest file with
// its optional index section.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lancer/status.h"
#include "table.pb.h"

namespace lancer::lance {

enum class ManifestNaming { kV1, kV2 };  // "<N>.manifest" or 20 digits of (2^64 - 1 - N)

struct VersionListing {
  ManifestNaming naming = ManifestNaming::kV2;
  std::vector<uint64_t> versions;  // ascending
};

// Lists committed versions of the dataset at `root`. NotFound when `root` has
// no `_versions/` folder; Corruption when both naming schemes are present.
Result<VersionListing> list_versions(const std::string& root);
std::string manifest_file_name(uint64_t version, ManifestNaming naming);

struct ManifestFile {
  ::lance::table::Manifest manifest;
  std::optional<::lance::table::IndexSection> index_section;
  std::optional<std::string> transaction;  // the inline Transaction's bytes, when present
};

// `display_name` names the file in errors.
Result<ManifestFile> read_manifest(const std::string& path, const std::string& display_name);

}  // namespace lancer::lance
