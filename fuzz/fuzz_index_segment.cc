// Lance index files as search reads them: `_indices/<uuid>/index.idx` and `auxiliary.idx` (V3:
// IVF centroids, codec metadata, partition rows; IVF_HNSW graphs) or a legacy single-file index.
// Input: [u8 column type][u32 index.idx length][index.idx][auxiliary.idx, absent when empty].
// Column type: bits 0-1 element (f32, f16, u8), bits 2-7 pick the dimension.
#include <filesystem>
#include <vector>

#include "fuzz_support.h"
#include "search/segment.h"

namespace {

constexpr uint32_t kDims[] = {8, 16, 32, 96, 128, 300, 4, 2};
constexpr uint64_t kMaxRowsRead = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lancer::fuzz::Input in(data, size);
  const uint8_t type = in.u8();
  const uint32_t index_bytes = in.u32();
  const std::string index = in.take(index_bytes);
  const std::string aux = in.take(in.rest_size());
  const std::string root = lancer::fuzz::scratch_dir() + "/ds";
  const std::string dir = root + "/_indices/00000000-0000-0000-0000-000000000000";
  lancer::fuzz::write_scratch("ds/_indices/00000000-0000-0000-0000-000000000000/index.idx",
                              reinterpret_cast<const uint8_t*>(index.data()), index.size());
  std::filesystem::remove(dir + "/auxiliary.idx");
  if (!aux.empty()) {
    lancer::fuzz::write_scratch("ds/_indices/00000000-0000-0000-0000-000000000000/auxiliary.idx",
                                reinterpret_cast<const uint8_t*>(aux.data()), aux.size());
  }
  ::lance::table::IndexMetadata idx;
  idx.mutable_uuid()->set_uuid(std::string(16, '\0'));
  idx.set_name("vector_idx");
  lancer::lance::VectorType column;
  const uint8_t element = type & 3;
  column.element = element == 1   ? lancer::lance::ElementType::kFloat16
                   : element == 2 ? lancer::lance::ElementType::kUInt8
                                  : lancer::lance::ElementType::kFloat32;
  column.dim = kDims[(type >> 2) % 8];
  auto segment = lancer::search::open_segment(root, idx, column);
  if (!segment.ok()) return 0;
  std::vector<uint64_t> ids;
  std::vector<uint8_t> storage;
  uint64_t read = 0;
  for (uint32_t p = 0; p < segment->nlist && read < kMaxRowsRead; ++p) {
    read += segment->lengths[p];
    if (!lancer::search::read_partition(*segment, p, &ids, &storage).ok()) continue;
    if (segment->graph_file) (void)lancer::search::read_partition_graph(*segment, p);
  }
  return 0;
}
