// Listing a dataset's committed versions under `_versions/` (declared in
// manifest.h; manifest.cc decodes one manifest file).
#include <algorithm>
#include <cinttypes>

#include "lance/manifest.h"
#include "storage/file_io.h"

namespace lancer::lance {

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (!all_digits(s) || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

std::string manifest_file_name(uint64_t version, ManifestNaming naming) {
  if (naming == ManifestNaming::kV1) return std::to_string(version) + ".manifest";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRIu64 ".manifest", UINT64_MAX - version);
  return buf;
}

Result<VersionListing> list_versions(const std::string& root) {
  const std::string dir = storage::join_path(root, "_versions");
  // One listing; the reason it failed (credentials, network) is the error, unless nothing is there.
  Result<std::vector<std::string>> listed = storage::list_directory(dir);
  if (!listed.ok() && listed.status().code() == StatusCode::kNotFound) {
    if (storage::is_object_store(root)) {
      return Status::NotFound(root + " is not a Lance dataset: nothing is stored under " + dir);
    }
    if (!storage::is_directory(root)) return Status::NotFound(root + " is not a directory (expected a Lance dataset)");
    return Status::NotFound(root + " is not a Lance dataset: it has no _versions/ folder");
  }
  if (!listed.ok()) return listed.status();
  const std::vector<std::string>& names = *listed;
  VersionListing listing;
  bool saw_v1 = false, saw_v2 = false;
  const std::string suffix = ".manifest";
  for (const std::string& name : names) {
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string stem = name.substr(0, name.size() - suffix.size());
    uint64_t value;
    if (!parse_u64(stem, &value)) continue;  // detached "d<N>", temporary names, ...
    if (stem.size() == 20) {
      saw_v2 = true;
      listing.versions.push_back(UINT64_MAX - value);
    } else {
      saw_v1 = true;
      listing.versions.push_back(value);
    }
  }
  if (saw_v1 && saw_v2) {
    return Status::Corruption(dir + " mixes V1 and V2 manifest names");
  }
  if (listing.versions.empty()) return Status::NotFound(dir + " holds no manifest");
  listing.naming = saw_v1 ? ManifestNaming::kV1 : ManifestNaming::kV2;
  std::sort(listing.versions.begin(), listing.versions.end());
  return listing;
}

}  // namespace lancer::lance
