// A .npy file from any location the storage layer reaches.
#pragma once

#include <string>

#include "core/npy.h"
#include "storage/file_io.h"

namespace lancer::storage {

inline Result<core::NpyArray> read_npy(const std::string& uri) {
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_whole_file(uri));
  return core::parse_npy(std::move(bytes), uri);
}

}  // namespace lancer::storage
