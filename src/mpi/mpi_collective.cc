#include "mpi/mpi_collective.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "mpi/wait_idle.h"

namespace lancer::mpi {

namespace {

constexpr size_t kChunk = size_t{1} << 30;

// Adds the seconds from construction to destruction to *total.
class Timed {
 public:
  explicit Timed(double* total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Timed() { *total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  double* total_;
  std::chrono::steady_clock::time_point start_;
};

Status check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return Status::OK();
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return Status::IOError(std::string("MPI ") + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

Status bcast_bytes(char* data, size_t n, int root, MPI_Comm comm) {
  for (size_t at = 0; at < n; at += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, n - at));
    LANCER_RETURN_IF_ERROR(check(MPI_Bcast(data + at, count, MPI_BYTE, root, comm), "broadcast"));
  }
  return Status::OK();
}

}  // namespace

MpiCollective::MpiCollective(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Result<std::vector<std::string>> MpiCollective::all_gather(std::string mine) {
  Timed timed(&wait_s_);
  uint64_t n = mine.size();
  std::vector<uint64_t> sizes(static_cast<size_t>(size_));
  {  // where this rank waits for the others to arrive
    MPI_Request request;
    LANCER_RETURN_IF_ERROR(
        check(MPI_Iallgather(&n, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, comm_, &request), "allgather"));
    LANCER_RETURN_IF_ERROR(check(wait_idle(&request), "allgather"));
  }
  std::vector<std::string> all(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    std::string& buf = all[static_cast<size_t>(r)];
    if (r == rank_) {
      buf = std::move(mine);
    } else {
      buf.resize(sizes[static_cast<size_t>(r)]);
    }
    LANCER_RETURN_IF_ERROR(bcast_bytes(buf.data(), buf.size(), r, comm_));
  }
  return all;
}

Status MpiCollective::all_gather_in_place(char* buffer, const std::vector<std::pair<size_t, size_t>>& parts) {
  Timed timed(&wait_s_);
  if (parts.size() != static_cast<size_t>(size_))
    return Status::InvalidArgument("all_gather_in_place: one part a rank");
  for (int r = 0; r < size_; ++r) {
    const auto [offset, bytes] = parts[static_cast<size_t>(r)];
    LANCER_RETURN_IF_ERROR(bcast_bytes(buffer + offset, bytes, r, comm_));
  }
  return Status::OK();
}

Status MpiCollective::broadcast(std::string* data, int root) {
  Timed timed(&wait_s_);
  uint64_t n = data->size();
  MPI_Request request;  // where the other ranks wait for the root
  LANCER_RETURN_IF_ERROR(check(MPI_Ibcast(&n, 1, MPI_UINT64_T, root, comm_, &request), "broadcast"));
  LANCER_RETURN_IF_ERROR(check(wait_idle(&request), "broadcast"));
  if (rank_ != root) data->resize(n);
  return bcast_bytes(data->data(), n, root, comm_);
}

}  // namespace lancer::mpi
