// The public collective factories over core's implementations.
#include "pipeline/collective_bridge.h"

#include <memory>

#include "core/file_collective.h"

namespace lancer {

namespace {

// A core::Collective seen through the public interface.
class PublicCollective final : public Collective {
 public:
  explicit PublicCollective(std::unique_ptr<core::Collective> c) : c_(std::move(c)) {}
  int rank() const override { return c_->rank(); }
  int size() const override { return c_->size(); }
  Result<std::vector<std::string>> all_gather(std::string mine) override { return c_->all_gather(std::move(mine)); }
  Status broadcast(std::string* data, int root) override { return c_->broadcast(data, root); }

 private:
  std::unique_ptr<core::Collective> c_;
};

}  // namespace

std::unique_ptr<Collective> local_collective() {
  return std::make_unique<PublicCollective>(std::make_unique<core::LocalCollective>());
}

std::unique_ptr<Collective> file_collective(std::string dir, int rank, int size, double timeout_s) {
  return std::make_unique<PublicCollective>(std::make_unique<core::FileCollective>(std::move(dir), rank, size, timeout_s));
}

}  // namespace lancer
