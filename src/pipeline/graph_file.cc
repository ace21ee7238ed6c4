#include "pipeline/graph_file.h"

#include <cstring>
#include <vector>

namespace lancer::pipeline {

namespace {

template <typename T>
Status put(storage::OutputFile& out, const std::vector<T>& v) {
  return v.empty() ? Status::OK() : out.write(v.data(), v.size() * sizeof(T));
}

}  // namespace

Status append_graph(storage::OutputFile& out, uint32_t partition, const graph::HnswGraph& g) {
  const uint32_t header[4] = {partition, g.num_nodes, g.entry_point, static_cast<uint32_t>(g.levels.size())};
  LANCER_RETURN_IF_ERROR(out.write(header, sizeof header));
  for (const auto& level : g.levels) {
    const uint64_t sizes[2] = {level.nodes.size(), level.neighbors.size()};
    LANCER_RETURN_IF_ERROR(out.write(sizes, sizeof sizes));
    LANCER_RETURN_IF_ERROR(put(out, level.nodes));
    LANCER_RETURN_IF_ERROR(put(out, level.offsets));
    LANCER_RETURN_IF_ERROR(put(out, level.neighbors));
    LANCER_RETURN_IF_ERROR(put(out, level.distances));
  }
  return Status::OK();
}

Result<std::unique_ptr<GraphFileReader>> GraphFileReader::open(const std::string& path, uint64_t size) {
  auto r = std::unique_ptr<GraphFileReader>(new GraphFileReader());
  if (size > 0) {
    LANCER_ASSIGN_OR_RETURN(r->file_, storage::RandomAccessFile::open(path, size));
  } else {
    LANCER_ASSIGN_OR_RETURN(r->file_, storage::RandomAccessFile::open(path));
  }
  return r;
}

Status GraphFileReader::read(void* out, uint64_t bytes) {
  if (bytes == 0) return Status::OK();
  if (bytes > file_->size() - std::min(file_->size(), position_)) {
    return Status::Corruption(file_->path() + ": ends inside a graph (a torn write?)");
  }
  LANCER_RETURN_IF_ERROR(file_->read_at(position_, bytes, out));
  position_ += bytes;
  return Status::OK();
}

Result<graph::HnswGraph> GraphFileReader::next(uint32_t partition) {
  uint32_t header[4];
  LANCER_RETURN_IF_ERROR(read(header, sizeof header));
  if (header[0] != partition) {
    return Status::Corruption(file_->path() + ": holds partition " + std::to_string(header[0]) + " where " +
                              std::to_string(partition) + " belongs");
  }
  graph::HnswGraph g;
  g.num_nodes = header[1];
  g.entry_point = header[2];
  if (header[3] > 64 || (g.num_nodes > 0 && g.entry_point >= g.num_nodes)) {
    return Status::Corruption(file_->path() + ": partition " + std::to_string(partition) + " has a bad header");
  }
  g.levels.resize(header[3]);
  for (auto& level : g.levels) {
    uint64_t sizes[2];
    LANCER_RETURN_IF_ERROR(read(sizes, sizeof sizes));
    const uint64_t left = file_->size() - position_;
    if (sizes[0] > g.num_nodes || sizes[1] > left / 8) {
      return Status::Corruption(file_->path() + ": partition " + std::to_string(partition) + " has a bad level");
    }
    level.nodes.resize(sizes[0]);
    level.offsets.resize(sizes[0] + 1);
    level.neighbors.resize(sizes[1]);
    level.distances.resize(sizes[1]);
    LANCER_RETURN_IF_ERROR(read(level.nodes.data(), sizes[0] * 4));
    LANCER_RETURN_IF_ERROR(read(level.offsets.data(), (sizes[0] + 1) * 8));
    LANCER_RETURN_IF_ERROR(read(level.neighbors.data(), sizes[1] * 4));
    LANCER_RETURN_IF_ERROR(read(level.distances.data(), sizes[1] * 4));
    if (level.offsets.front() != 0 || level.offsets.back() != sizes[1]) {
      return Status::Corruption(file_->path() + ": partition " + std::to_string(partition) + " has bad offsets");
    }
  }
  return g;
}

}  // namespace lancer::pipeline
