// The public collective factories (lancer/collective.h) over core's implementations.
#include <memory>

#include "core/collective.h"
#include "lancer/collective.h"
#include "storage/file_collective.h"

namespace lancer {

std::unique_ptr<Collective> local_collective() {
  return std::make_unique<core::LocalCollective>();
}

std::unique_ptr<Collective> file_collective(std::string dir, int rank, int size, double timeout_s) {
  return std::make_unique<storage::FileCollective>(std::move(dir), rank, size, timeout_s);
}

}  // namespace lancer
