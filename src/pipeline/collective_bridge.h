// Bridges between the public lancer::Collective (what drivers implement:
// MPI, files) and core::Collective (what training calls). The bridge refers to
// the wrapped collective, which must outlive it; same threading as the wrapped one.
#pragma once

#include "core/collective.h"
#include "lancer/collective.h"

namespace lancer::pipeline {

class CoreCollective final : public core::Collective {
 public:
  explicit CoreCollective(lancer::Collective& c) : c_(c) {}
  int rank() const override { return c_.rank(); }
  int size() const override { return c_.size(); }
  Result<std::vector<std::string>> all_gather(std::string mine) override { return c_.all_gather(std::move(mine)); }
  Status broadcast(std::string* data, int root) override { return c_.broadcast(data, root); }

 private:
  lancer::Collective& c_;
};

}  // namespace lancer::pipeline
