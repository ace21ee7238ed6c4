#include "storage/file_collective.h"
#include "storage/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>


namespace lancer::storage {

namespace {

Status os_error(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

FileCollective::FileCollective(std::string dir, int rank, int size, double timeout_s)
    : dir_(std::move(dir)), rank_(rank), size_(size), timeout_s_(timeout_s) {}

std::string FileCollective::part_path(uint64_t step, int rank) const {
  return join_path(dir_, std::to_string(step) + "." + std::to_string(rank));
}

Status FileCollective::write_part(uint64_t step, const std::string& bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IOError("cannot create exchange folder " + dir_ + ": " + ec.message());
  const std::string path = part_path(step, rank_), tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return os_error("cannot create", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return os_error("cannot write", tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return os_error("cannot write", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return os_error("cannot rename", tmp);
  return Status::OK();
}

Result<std::string> FileCollective::wait_part(uint64_t step, int rank) {
  const std::string path = part_path(step, rank);
  const auto start = std::chrono::steady_clock::now();
  auto pause = std::chrono::microseconds(50);
  struct stat st;
  while (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return os_error("cannot stat", path);
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s_) {
      return Status::IOError("distributed training: rank " + std::to_string(rank) + " did not write " + path +
                             " within " + std::to_string(static_cast<int>(timeout_s_)) + " s");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_whole_file(path));
  return std::string(bytes.begin(), bytes.end());
}

void FileCollective::remove_own_part(uint64_t step) {
  if (step >= 1) ::unlink(part_path(step, rank_).c_str());
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

Status FileCollective::barrier() { return all_gather(std::string()).status(); }

}  // namespace lancer::storage
