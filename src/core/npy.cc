#include "core/npy.h"

#include <cerrno>
#include <cstring>

namespace lancer::core {

namespace {
// The header is padded to this many bytes so the final row count always fits.
constexpr size_t kHeaderBytes = 128;

size_t dtype_size(const std::string& descr) {
  if (descr.size() < 3) return 0;
  return static_cast<size_t>(std::stoul(descr.substr(2)));
}
}  // namespace

Result<NpyWriter> NpyWriter::create(const std::string& path, std::string descr, std::vector<uint64_t> row_shape) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
  size_t row_bytes = dtype_size(descr);
  for (uint64_t d : row_shape) row_bytes *= d;
  NpyWriter w(path, f, std::move(descr), std::move(row_shape), row_bytes);
  const std::string h = w.header(0);
  if (std::fwrite(h.data(), 1, h.size(), f) != h.size()) return Status::IOError("cannot write " + path);
  return w;
}

NpyWriter::NpyWriter(std::string path, std::FILE* f, std::string descr, std::vector<uint64_t> row_shape,
                     size_t row_bytes)
    : path_(std::move(path)), file_(f), descr_(std::move(descr)), row_shape_(std::move(row_shape)),
      row_bytes_(row_bytes) {}

NpyWriter::NpyWriter(NpyWriter&& o) noexcept
    : path_(std::move(o.path_)), file_(o.file_), descr_(std::move(o.descr_)), row_shape_(std::move(o.row_shape_)),
      row_bytes_(o.row_bytes_), rows_(o.rows_) {
  o.file_ = nullptr;
}

NpyWriter& NpyWriter::operator=(NpyWriter&& o) noexcept {
  if (this != &o) {
    if (file_ != nullptr) std::fclose(file_);
    path_ = std::move(o.path_);
    file_ = o.file_;
    descr_ = std::move(o.descr_);
    row_shape_ = std::move(o.row_shape_);
    row_bytes_ = o.row_bytes_;
    rows_ = o.rows_;
    o.file_ = nullptr;
  }
  return *this;
}

NpyWriter::~NpyWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

std::string NpyWriter::header(uint64_t rows) const {
  std::string shape = "(" + std::to_string(rows) + ",";
  for (size_t i = 0; i < row_shape_.size(); ++i) shape += (i ? ", " : " ") + std::to_string(row_shape_[i]);
  shape += ")";
  std::string dict = "{'descr': '" + descr_ + "', 'fortran_order': False, 'shape': " + shape + ", }";
  std::string h = std::string("\x93NUMPY\x01\x00", 8);
  const size_t len = kHeaderBytes - 10;
  h += static_cast<char>(len & 0xff);
  h += static_cast<char>(len >> 8);
  dict.resize(len - 1, ' ');
  return h + dict + "\n";
}

Status NpyWriter::append(const void* data, uint64_t rows) {
  if (rows == 0) return Status::OK();
  if (std::fwrite(data, row_bytes_, rows, file_) != rows) {
    return Status::IOError("cannot write " + path_ + ": " + std::strerror(errno));
  }
  rows_ += rows;
  return Status::OK();
}

Status NpyWriter::close() {
  const std::string h = header(rows_);
  bool ok = std::fseek(file_, 0, SEEK_SET) == 0 && std::fwrite(h.data(), 1, h.size(), file_) == h.size();
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok) return Status::IOError("cannot finish " + path_ + ": " + std::strerror(errno));
  return Status::OK();
}

}  // namespace lancer::core
