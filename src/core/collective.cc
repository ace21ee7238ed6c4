// Collective's calls built on all_gather: all_gather_in_place's default (one copy of each part), barrier.
#include "core/collective.h"

#include <cstring>

namespace lancer {

Status Collective::all_gather_in_place(char* buffer, const std::vector<std::pair<size_t, size_t>>& parts) {
  const size_t me = static_cast<size_t>(rank());
  if (parts.size() != static_cast<size_t>(size()))
    return Status::InvalidArgument("all_gather_in_place: one part a rank");
  LANCER_ASSIGN_OR_RETURN(auto all, all_gather(std::string(buffer + parts[me].first, parts[me].second)));
  if (all.size() != parts.size()) return Status::Internal("all_gather_in_place: a part is missing");
  for (size_t r = 0; r < parts.size(); ++r) {
    if (all[r].size() != parts[r].second)
      return Status::Internal("all_gather_in_place: rank " + std::to_string(r) + " sent " +
                              std::to_string(all[r].size()) + " bytes, not " + std::to_string(parts[r].second));
    if (r != me && !all[r].empty()) std::memcpy(buffer + parts[r].first, all[r].data(), all[r].size());
  }
  return Status::OK();
}

Status Collective::barrier() { return all_gather(std::string()).status(); }

Result<std::unique_ptr<SharedMemory>> core::map_shared(Collective* collective, size_t bytes) {
  auto* maps = collective && collective->size() > 1 ? dynamic_cast<MapsSharedMemory*>(collective) : nullptr;
  if (maps == nullptr) return std::unique_ptr<SharedMemory>();
  return maps->map_shared(bytes);
}

}  // namespace lancer
