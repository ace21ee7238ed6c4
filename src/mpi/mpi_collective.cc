#include "mpi/mpi_collective.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

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

// A mapping of a POSIX shared-memory object, unmapped when dropped.
class PosixSharedMemory final : public SharedMemory {
 public:
  PosixSharedMemory(char* data, size_t size) : data_(data), size_(size) {}
  ~PosixSharedMemory() override { munmap(data_, size_); }
  char* data() override { return data_; }
  size_t size() const override { return size_; }
  void release(size_t offset, size_t bytes) override {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t begin = std::min(offset, size_) / page * page;
    const size_t end = offset + bytes >= size_ ? size_ : (offset + bytes) / page * page;
    // A hole punched in the object: its pages go back to the system now, in every mapping.
    if (end > begin) (void)madvise(data_ + begin, end - begin, MADV_REMOVE);
  }

 private:
  char* data_;
  size_t size_;
};

// Maps `name` (created first when `create`); null on any failure.
char* map_object(const std::string& name, size_t bytes, bool create) {
  const int fd = shm_open(name.c_str(), create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
  if (fd < 0) return nullptr;
  void* p = MAP_FAILED;
  if (!create || ftruncate(fd, static_cast<off_t>(bytes)) == 0)
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

}  // namespace

Result<std::unique_ptr<SharedMemory>> MpiCollective::map_shared(size_t bytes) {
  // Every rank on one host? (The same answer on every rank.)
  MPI_Comm host;
  LANCER_RETURN_IF_ERROR(
      check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host), "comm_split_type"));
  int host_size = 0;
  MPI_Comm_size(host, &host_size);
  MPI_Comm_free(&host);
  if (host_size != size_ || bytes == 0) return std::unique_ptr<SharedMemory>();
  static std::atomic<uint64_t> counter{0};
  std::string name;
  char* data = nullptr;
  if (rank_ == 0) {
    // tmpfs pages come as they are written: a full /dev/shm would fail a write (SIGBUS), not
    // the mapping, so the space is checked first (with room to spare for other users).
    struct statvfs fs {};
    if (statvfs("/dev/shm", &fs) == 0 && fs.f_bavail / 2 >= bytes / std::max<unsigned long>(1, fs.f_frsize) + 1) {
      name = "/lancer-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
      data = map_object(name, bytes, true);
      if (data == nullptr) {
        shm_unlink(name.c_str());
        name.clear();
      }
    }
  }
  LANCER_RETURN_IF_ERROR(broadcast(&name, 0));
  if (name.empty()) return std::unique_ptr<SharedMemory>();
  if (rank_ != 0) data = map_object(name, bytes, false);
  auto mapped = all_gather(std::string(1, data ? '1' : '0'));
  if (rank_ == 0) shm_unlink(name.c_str());  // every rank has mapped it or failed: nothing to leave behind
  std::unique_ptr<SharedMemory> memory;
  if (data) memory = std::make_unique<PosixSharedMemory>(data, bytes);
  LANCER_RETURN_IF_ERROR(mapped.status());
  for (const auto& m : *mapped)
    if (m != "1") return std::unique_ptr<SharedMemory>();
  return memory;
}

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
