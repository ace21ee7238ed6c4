#include "lance/manifest.h"

#include "core/bytes.h"
#include "storage/file_io.h"

namespace lancer::lance {

namespace {

constexpr size_t kTrailerSize = 16;

// The [u32 length][message] block at `pos`, checked against the file.
Result<std::pair<const uint8_t*, size_t>> framed(const std::vector<uint8_t>& bytes, uint64_t pos, uint64_t limit,
                                                 const char* what) {
  if (pos > limit || limit - pos < 4) {
    return Status::Corruption(std::string(what) + " offset " + std::to_string(pos) + " lies outside the manifest");
  }
  const uint32_t len = core::load_le<uint32_t>(bytes.data() + pos);
  if (len > limit - pos - 4) {
    return Status::Corruption(std::string(what) + " at offset " + std::to_string(pos) + " claims " +
                              std::to_string(len) + " bytes, past the end of the manifest");
  }
  return std::make_pair(bytes.data() + pos + 4, static_cast<size_t>(len));
}

}  // namespace

Result<ManifestFile> read_manifest(const std::string& path, const std::string& display_name) {
  auto read = storage::read_whole_file(path);
  if (!read.ok()) return read.status().context("reading manifest " + display_name);
  const std::vector<uint8_t>& bytes = *read;
  auto fail = [&](const std::string& why) { return Status::Corruption("manifest " + display_name + ": " + why); };
  if (bytes.size() < kTrailerSize + 4) return fail("file is too short (" + std::to_string(bytes.size()) + " bytes)");
  const uint8_t* trailer = bytes.data() + bytes.size() - kTrailerSize;
  if (std::memcmp(trailer + 12, "LANC", 4) != 0) return fail("bad magic (expected \"LANC\")");
  const auto major = core::load_le<uint16_t>(trailer + 8);
  const auto minor = core::load_le<uint16_t>(trailer + 10);
  if (major != 0 || minor != 2) {
    return Status::NotSupported("manifest " + display_name + ": trailer version " + std::to_string(major) + "." +
                                std::to_string(minor) + " (expected 0.2)");
  }
  const uint64_t manifest_pos = core::load_le<uint64_t>(trailer);
  const uint64_t limit = bytes.size() - kTrailerSize;
  if (manifest_pos > limit || limit - manifest_pos < 4 ||
      core::load_le<uint32_t>(bytes.data() + manifest_pos) != limit - manifest_pos - 4) {
    return fail("the manifest length at offset " + std::to_string(manifest_pos) +
                " does not reach the trailer exactly");
  }
  ManifestFile out;
  {
    LANCER_ASSIGN_OR_RETURN(auto block, framed(bytes, manifest_pos, limit, "manifest"));
    if (!out.manifest.ParseFromArray(block.first, static_cast<int>(block.second))) {
      return fail("the Manifest protobuf does not parse");
    }
  }
  if (out.manifest.has_index_section()) {
    auto block = framed(bytes, out.manifest.index_section(), manifest_pos, "index section");
    if (!block.ok()) return block.status().context("manifest " + display_name);
    ::lance::table::IndexSection section;
    if (!section.ParseFromArray(block->first, static_cast<int>(block->second))) {
      return fail("the IndexSection protobuf does not parse");
    }
    out.index_section = std::move(section);
  }
  const auto& mm = out.manifest;
  if (mm.has_transaction_section_v14() || mm.has_transaction_section()) {
    const uint64_t at = mm.has_transaction_section_v14() ? mm.transaction_section_v14() : mm.transaction_section();
    auto block = framed(bytes, at, manifest_pos, "transaction section");
    if (!block.ok()) return block.status().context("manifest " + display_name);
    out.transaction.emplace(reinterpret_cast<const char*>(block->first), block->second);
  }
  return out;
}

}  // namespace lancer::lance
