// FileCollective: the ranks of one job exchanging parts through files in a
// folder every rank sees (the build's staging folder on shared storage or an
// object store), for
// engines without a message layer of their own (Ray tasks, job arrays).
// all_gather writes this rank's part of step s as `s.r` (by rename, so it is
// whole when it appears) and waits for every rank's; a part is removed by its
// writer one step later, when every rank has read it; the last step's parts
// stay until the folder's owner removes it (use a new folder per job). A rank that waits
// longer than `timeout_s` for the others fails with IOError.
#pragma once

#include <string>

#include "core/collective.h"

namespace lancer::storage {

class FileCollective final : public core::Collective {
 public:
  FileCollective(std::string dir, int rank, int size, double timeout_s = 1800);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Result<std::vector<std::string>> all_gather(std::string mine) override;
  Status broadcast(std::string* data, int root) override;

 private:
  std::string part_path(uint64_t step, int rank) const;
  Status write_part(uint64_t step, const std::string& bytes);
  Result<std::string> wait_part(uint64_t step, int rank);
  void remove_own_part(uint64_t step);

  std::string dir_;
  int rank_, size_;
  double timeout_s_;
  uint64_t step_ = 0;
};

}  // namespace lancer::storage
