// core::Collective over two Python callables, so that an engine written in
// Python (Ray) can carry the exchanges of distributed training:
//   all_gather(mine: bytes) -> list[bytes]   every rank's bytes, in rank order
//   broadcast(data: bytes | None, root: int) -> bytes   the root's bytes
// Called with the GIL released; each call takes it for the callable only.
#pragma once

#include <nanobind/nanobind.h>

#include "core/collective.h"

namespace lancer::python {

class PyCollective final : public core::Collective {
 public:
  PyCollective(int rank, int size, nanobind::callable all_gather, nanobind::callable broadcast);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Result<std::vector<std::string>> all_gather(std::string mine) override;
  Status broadcast(std::string* data, int root) override;

 private:
  int rank_, size_;
  nanobind::callable all_gather_, broadcast_;
};

}  // namespace lancer::python
