#include "storage/file_collective.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "storage/file_io.h"

namespace lancer::storage {

FileCollective::FileCollective(std::string dir, int rank, int size, double timeout_s)
    : dir_(std::move(dir)), rank_(rank), size_(size), timeout_s_(timeout_s) {}

std::string FileCollective::part_path(uint64_t step, int rank) const {
  return join_path(dir_, std::to_string(step) + "." + std::to_string(rank));
}

Status FileCollective::write_part(uint64_t step, const std::string& bytes) {
  LANCER_RETURN_IF_ERROR(make_directories(dir_).context("cannot create exchange folder " + dir_));
  // Whole when it appears: a rename locally, one PUT on an object store.
  return write_file_atomic(part_path(step, rank_), bytes);
}

Result<std::string> FileCollective::wait_part(uint64_t step, int rank) {
  const std::string path = part_path(step, rank);
  const auto start = std::chrono::steady_clock::now();
  // Object stores answer in milliseconds and bill per request: poll them less often.
  const bool remote = is_object_store(path);
  auto pause = std::chrono::microseconds(remote ? 5000 : 50);
  const auto max_pause = std::chrono::microseconds(remote ? 100000 : 2000);
  for (;;) {
    Result<uint64_t> size = file_size(path);
    if (size.ok()) break;
    if (size.status().code() != StatusCode::kNotFound) return size.status();
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s_) {
      return Status::IOError("distributed training: rank " + std::to_string(rank) + " did not write " + path +
                             " within " + std::to_string(static_cast<int>(timeout_s_)) + " s");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, max_pause);
  }
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_whole_file(path));
  return std::string(bytes.begin(), bytes.end());
}

void FileCollective::remove_own_part(uint64_t step) {
  if (step >= 1) (void)remove_file(part_path(step, rank_));
}

Result<std::vector<std::string>> FileCollective::all_gather(std::string mine) {
  const uint64_t step = ++step_;
  LANCER_RETURN_IF_ERROR(write_part(step, mine));
  std::vector<std::string> all(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) {
      all[r] = std::move(mine);
    } else {
      LANCER_ASSIGN_OR_RETURN(all[r], wait_part(step, r));
    }
  }
  // Every rank wrote step s only after reading all of step s-1: when this rank
  // has seen all parts of s, nobody reads its part of s-1 any more.
  remove_own_part(step - 1);
  return all;
}

Status FileCollective::broadcast(std::string* data, int root) {
  // One all_gather with an empty part from the others: the same two-step cleanup.
  LANCER_ASSIGN_OR_RETURN(auto parts, all_gather(rank_ == root ? *data : std::string()));
  *data = std::move(parts[static_cast<size_t>(root)]);
  return Status::OK();
}

}  // namespace lancer::storage
