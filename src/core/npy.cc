#include "core/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lancer::core {

namespace {
// The header is padded to this many bytes so the final row count always fits.
constexpr size_t kHeaderBytes = 128;

// Item size of a NumPy type string such as "<f4"; 0 if it is not one.
size_t dtype_size(const std::string& descr) {
  if (descr.size() < 3 || descr.size() > 4 || std::string("<|=").find(descr[0]) == std::string::npos) return 0;
  size_t n = 0;
  for (size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9') return 0;
    n = n * 10 + static_cast<size_t>(descr[i] - '0');
  }
  return n;
}
// The text after `'key': ` in a header dict, up to the matching terminator.
bool header_value(const std::string& header, const std::string& key, std::string* out) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t v = header.find(':', k);
  if (v == std::string::npos) return false;
  ++v;
  while (v < header.size() && header[v] == ' ') ++v;
  if (v >= header.size()) return false;
  const char open = header[v];
  const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
  const size_t end = header.find(close, v + 1);
  if (end == std::string::npos) return false;
  *out = open == '(' || open == '\'' ? header.substr(v + 1, end - v - 1) : header.substr(v, end - v);
  return true;
}

}  // namespace

Result<NpyArray> parse_npy(std::vector<uint8_t> bytes, const std::string& path) {
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": not a valid .npy file: " + why); };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) return bad("missing magic");
  const uint8_t major = bytes[6];
  size_t header_len, pos;
  if (major == 1) {
    header_len = bytes[8] | (size_t{bytes[9]} << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated header");
    header_len = bytes[8] | (size_t{bytes[9]} << 8) | (size_t{bytes[10]} << 16) | (size_t{bytes[11]} << 24);
    pos = 12;
  } else {
    return bad("format version " + std::to_string(major));
  }
  if (header_len > bytes.size() - pos) return bad("truncated header");
  const std::string header(reinterpret_cast<const char*>(bytes.data() + pos), header_len);
  NpyArray out;
  std::string fortran, shape;
  if (!header_value(header, "descr", &out.descr) || !header_value(header, "fortran_order", &fortran) ||
      !header_value(header, "shape", &shape)) {
    return bad("header lacks descr, fortran_order or shape");
  }
  if (fortran != "False") return bad("Fortran-order arrays are not supported");
  uint64_t count = 1;
  for (size_t i = 0; i < shape.size();) {
    if (shape[i] < '0' || shape[i] > '9') {
      ++i;
      continue;
    }
    uint64_t d = 0;
    while (i < shape.size() && shape[i] >= '0' && shape[i] <= '9') d = d * 10 + static_cast<uint64_t>(shape[i++] - '0');
    out.shape.push_back(d);
    count *= d;
  }
  const size_t item = dtype_size(out.descr);
  if (item == 0) return bad("unknown dtype " + out.descr);
  const size_t data_at = pos + header_len;
  if (bytes.size() - data_at != count * item) {
    return bad("holds " + std::to_string(bytes.size() - data_at) + " data bytes, the header implies " +
               std::to_string(count * item));
  }
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_at), bytes.end());
  return out;
}

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
    : path_(std::move(path)),
      file_(f),
      descr_(std::move(descr)),
      row_shape_(std::move(row_shape)),
      row_bytes_(row_bytes) {}

NpyWriter::NpyWriter(NpyWriter&& o) noexcept
    : path_(std::move(o.path_)),
      file_(o.file_),
      descr_(std::move(o.descr_)),
      row_shape_(std::move(o.row_shape_)),
      row_bytes_(o.row_bytes_),
      rows_(o.rows_) {
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
  // Built with append only: GCC 12 warns falsely (-Wrestrict) on "lit" + string.
  std::string dict;
  dict.append("{'descr': '").append(descr_).append("', 'fortran_order': False, 'shape': (");
  dict.append(std::to_string(rows)).append(",");
  for (size_t i = 0; i < row_shape_.size(); ++i) dict.append(i ? ", " : " ").append(std::to_string(row_shape_[i]));
  dict.append("), }");
  const size_t len = kHeaderBytes - 10;
  dict.resize(len - 1, ' ');
  std::string h("\x93NUMPY\x01\x00", 8);
  h.push_back(static_cast<char>(len & 0xff));
  h.push_back(static_cast<char>(len >> 8));
  h.append(dict).push_back('\n');
  return h;
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
