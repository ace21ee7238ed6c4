// Local files (plain paths and file:// URIs): pread for ranges, whole files written without a
// name (O_TMPFILE) and fsynced, then named: link(2) for create-if-absent, link to a temporary
// name + rename for replacement. A process killed while writing leaves no file behind (on a
// filesystem without O_TMPFILE, a temporary name: `<name>.tmp_<random>`).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "core/fault_injection.h"
#include "storage/backends.h"

namespace lancer::storage::posix {

namespace {

Status errno_status(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(msg);
  return Status::IOError(msg);
}

class PosixFile final : public BackendFile {
 public:
  PosixFile(std::string path, int fd, uint64_t size) : BackendFile(std::move(path), size), fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

 protected:
  Status read_checked(std::span<const ReadRequest> requests) const override {
    for (const auto& r : requests) {
      auto* dst = static_cast<uint8_t*>(r.out);
      uint64_t done = 0;
      while (done < r.length) {
        ssize_t n = ::pread(fd_, dst + done, r.length - done, static_cast<off_t>(r.offset + done));
        if (n < 0) {
          if (errno == EINTR) continue;
          return errno_status("cannot read", path(), errno);
        }
        if (n == 0) return Status::Corruption(path() + ": file shrank while reading");
        done += static_cast<uint64_t>(n);
      }
    }
    return Status::OK();
  }

 private:
  int fd_;
};

class PosixOutput final : public OutputFile {
 public:
  PosixOutput(std::string path, std::FILE* f) : path_(std::move(path)), file_(f) {}
  ~PosixOutput() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  Status write(const void* data, size_t size) override {
    if (file_ == nullptr) return Status::Internal(path_ + ": write after finish");
    if (size > 0 && std::fwrite(data, 1, size, file_) != size) {
      return errno_status("cannot write", path_, errno);
    }
    written_ += size;
    // Start the disk writing every kWriteBehind bytes, while the caller goes on producing, so
    // that finish()'s fsync waits for the last stretch only, not for the whole file.
    if (written_ - flushed_ >= kWriteBehind) {
      if (std::fflush(file_) != 0) return errno_status("cannot write", path_, errno);
      (void)::sync_file_range(fileno(file_), static_cast<off_t>(flushed_), static_cast<off_t>(written_ - flushed_),
                              SYNC_FILE_RANGE_WRITE);
      if (forget_ && flushed_ > forgotten_) {
        // The stretch started last time: on disk once this returns (the disk is the pace anyway),
        // then dropped from the cache.
        const auto at = static_cast<off_t>(forgotten_), length = static_cast<off_t>(flushed_ - forgotten_);
        (void)::sync_file_range(fileno(file_), at, length,
                                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
        (void)::posix_fadvise(fileno(file_), at, length, POSIX_FADV_DONTNEED);
        forgotten_ = flushed_;
      }
      flushed_ = written_;
    }
    return Status::OK();
  }
  Status finish() override {
    if (file_ == nullptr) return Status::Internal(path_ + ": finished twice");
    // Durable before a manifest can name it.
    const bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    const int err = errno;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed) return errno_status("cannot write", path_, ok ? errno : err);
    return Status::OK();
  }
  void forget_written() override {
    forget_ = true;
    forgotten_ = flushed_;
  }

 private:
  static constexpr uint64_t kWriteBehind = 16u << 20;
  std::string path_;
  std::FILE* file_;
  uint64_t flushed_ = 0;  // bytes handed to the disk so far
  bool forget_ = false;
  uint64_t forgotten_ = 0;  // bytes dropped from the page cache so far
};

// All of `bytes` to `fd`, across short writes and signals; false with errno set on an error.
bool write_all(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

Status write_synced(const std::string& path, std::span<const uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("cannot create", path, errno);
  if (!write_all(fd, bytes)) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return errno_status("cannot write", path, err);
  }
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return errno_status("cannot fsync", path, err);
  }
  return Status::OK();
}

// Tests only: a file written and synced, before it gets its name (tests/oracle/test_distributed.py).
void maybe_kill_before_publish(const std::string& path) {
  core::maybe_kill_at("publish:" + std::filesystem::path(path).filename().string());
}

// `bytes` in a new file without a name in the folder of `path`, fsynced; -1 where the filesystem
// has no O_TMPFILE or /proc is not mounted (link_unnamed needs it): the caller then writes under
// a temporary name.
Result<int> write_unnamed(const std::string& path, std::span<const uint8_t> bytes) {
  static const bool proc_fds = ::access("/proc/self/fd", X_OK) == 0;
  if (!proc_fds) return -1;
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return -1;
    return errno_status("cannot create a file in", dir, errno);
  }
  if (!write_all(fd, bytes)) {
    const int err = errno;
    ::close(fd);
    return errno_status("cannot write", path, err);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return errno_status("cannot fsync", path, err);
  }
  maybe_kill_before_publish(path);
  return fd;
}

// Names the unnamed file `fd` `path`; fails with EEXIST when the name is taken.
int link_unnamed(int fd, const std::string& path) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW);
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Result<std::shared_ptr<RandomAccessFile>> open_file(const std::string& uri, std::optional<uint64_t>) {
  const std::string path = local_path(uri);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_status("cannot stat", path, err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + " is a directory, expected a file");
  }
  return std::shared_ptr<RandomAccessFile>(new PosixFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

Result<std::unique_ptr<OutputFile>> create_output(const std::string& uri) {
  const std::string path = local_path(uri);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return errno_status("cannot create", path, errno);
  return std::unique_ptr<OutputFile>(new PosixOutput(path, f));
}

Result<std::vector<uint8_t>> read_whole_file(const std::string& uri) {
  LANCER_ASSIGN_OR_RETURN(auto file, open_file(uri, std::nullopt));
  return file->read_range(0, file->size());
}

Status write_file_atomic(const std::string& uri, std::span<const uint8_t> bytes) {
  const std::string path = local_path(uri);
  const std::string tmp = temporary_path(path);
  LANCER_ASSIGN_OR_RETURN(const int fd, write_unnamed(path, bytes));
  if (fd >= 0) {
    // rename(2) needs a name to replace `path` with: the temporary one exists only between these
    // two calls.
    const int linked = link_unnamed(fd, tmp);
    const int err = errno;
    ::close(fd);
    if (linked != 0) return errno_status("cannot create", tmp, err);
  } else {
    LANCER_RETURN_IF_ERROR(write_synced(tmp, bytes));
    maybe_kill_before_publish(path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return errno_status("cannot rename into", path, err);
  }
  fsync_directory(std::filesystem::path(path).parent_path().string());
  return Status::OK();
}

Result<bool> create_file_exclusive(const std::string& uri, const std::string& bytes) {
  const std::string path = local_path(uri);
  const auto data = std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  LANCER_ASSIGN_OR_RETURN(const int fd, write_unnamed(path, data));
  int linked = 0, err = 0;
  if (fd >= 0) {
    linked = link_unnamed(fd, path);
    err = errno;
    ::close(fd);
  } else {
    const std::string tmp = temporary_path(path);
    LANCER_RETURN_IF_ERROR(write_synced(tmp, data));
    maybe_kill_before_publish(path);
    linked = ::link(tmp.c_str(), path.c_str());
    err = errno;
    ::unlink(tmp.c_str());
  }
  if (linked == 0) {
    fsync_directory(std::filesystem::path(path).parent_path().string());
    return true;
  }
  if (err == EEXIST) return false;
  return errno_status("cannot create", path, err);
}

Result<uint64_t> file_size(const std::string& uri) {
  const std::string path = local_path(uri);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno_status("cannot stat", path, errno);
  if (S_ISDIR(st.st_mode)) return Status::NotFound(path + " is a directory, not a file");
  return static_cast<uint64_t>(st.st_size);
}

bool is_directory(const std::string& uri) {
  struct stat st;
  return ::stat(local_path(uri).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> list_directory(const std::string& uri) {
  const std::string path = local_path(uri);
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return errno_status("cannot list", path, errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(dir);
  return names;
}

Status make_directories(const std::string& uri) {
  std::error_code ec;
  std::filesystem::create_directories(local_path(uri), ec);
  if (ec) return Status::IOError("cannot create " + local_path(uri) + ": " + ec.message());
  return Status::OK();
}

Status remove_file(const std::string& uri) {
  const std::string path = local_path(uri);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_status("cannot remove", path, errno);
  return Status::OK();
}

Status remove_tree(const std::string& uri, const std::vector<std::string>& keep) {
  namespace fs = std::filesystem;
  const fs::path dir = local_path(uri);
  std::error_code ec;
  if (keep.empty()) {
    fs::remove_all(dir, ec);
  } else {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (std::find(keep.begin(), keep.end(), name) == keep.end()) fs::remove_all(it->path(), ec);
      if (ec) break;
    }
    if (ec == std::errc::no_such_file_or_directory) ec.clear();
  }
  if (ec) return Status::IOError("cannot remove " + dir.string() + ": " + ec.message());
  return Status::OK();
}

}  // namespace lancer::storage::posix
