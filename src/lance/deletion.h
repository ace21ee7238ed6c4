// Deletion files of a fragment (format notes section 3.9): `.arrow` (Arrow IPC
// file, one UInt32 column `row_id`, optional ZSTD/LZ4-free buffer framing) and
// `.bin` (portable Roaring). Both yield the deleted physical row offsets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::lance {

enum class DeletionFileKind { kArrowArray = 0, kBitmap = 1 };

// `_deletions/{fragment_id}-{read_version}-{id}.{arrow|bin}` relative to the dataset root.
std::string deletion_file_relative_path(uint64_t fragment_id, uint64_t read_version, uint64_t id,
                                        DeletionFileKind kind);

// Sorted, unique deleted offsets. Errors name `path` and say what was wrong.
// `physical_rows` bounds the offsets (an offset >= physical_rows is Corruption).
Result<std::vector<uint32_t>> read_deletion_file(const std::string& path, DeletionFileKind kind,
                                                 uint64_t physical_rows);
// The same on bytes already in memory; errors name `what` (the path).
Result<std::vector<uint32_t>> decode_deletion_file(const uint8_t* data, size_t size, DeletionFileKind kind,
                                                   uint64_t physical_rows, const std::string& what);

}  // namespace lancer::lance
