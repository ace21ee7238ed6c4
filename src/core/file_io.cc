#include "core/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lancer::core {

namespace {
Status errno_status(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(msg);
  return Status::IOError(msg);
}
}  // namespace

Result<std::shared_ptr<RandomAccessFile>> RandomAccessFile::open(const std::string& path) {
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
  return std::shared_ptr<RandomAccessFile>(new RandomAccessFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

RandomAccessFile::~RandomAccessFile() { ::close(fd_); }

Status RandomAccessFile::read_at(uint64_t offset, uint64_t length, void* out) const {
  if (offset > size_ || length > size_ - offset) {
    return Status::Corruption(path_ + ": wants bytes [" + std::to_string(offset) + ", " +
                              std::to_string(offset + length) + ") of a file of " + std::to_string(size_) +
                              " bytes");
  }
  auto* dst = static_cast<uint8_t*>(out);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, dst + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot read", path_, errno);
    }
    if (n == 0) return Status::Corruption(path_ + ": file shrank while reading");
    done += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Result<std::vector<uint8_t>> RandomAccessFile::read_range(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset) {
    return read_at(offset, length, nullptr);  // produces the range error
  }
  std::vector<uint8_t> buf(length);
  LANCER_RETURN_IF_ERROR(read_at(offset, length, buf.data()));
  return buf;
}

Result<std::vector<uint8_t>> read_whole_file(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(auto file, RandomAccessFile::open(path));
  return file->read_range(0, file->size());
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> list_directory(const std::string& path) {
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

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

}  // namespace lancer::core
