// Spill files of build tasks (`task-N.run`): footer, run table, per-partition checksums and the
// partition reads of the merge. The first four bytes are the partition count and row size the
// reader expects (a real merge knows them from the model).
#include <vector>

#include "fuzz_support.h"
#include "pipeline/spill.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lancer::fuzz::Input in(data, size);
  const uint32_t num_partitions = 1 + (in.u8() | (in.u8() << 8)) % 1024;
  const size_t row_bytes = 1 + (in.u8() | (in.u8() << 8)) % 4096;
  const std::string path = lancer::fuzz::write_scratch("task-0.run", in.rest(), in.rest_size());
  auto spill = lancer::pipeline::SpillFile::open(path, num_partitions, row_bytes);
  if (!spill.ok()) return 0;
  lancer::core::UninitVector<uint64_t> ids;
  lancer::core::ByteBuffer storage;
  for (uint32_t p = 0; p < num_partitions; ++p) {
    ids.clear();
    storage.clear();
    if (!(*spill)->append_partition(p, &ids, &storage).ok()) return 0;
  }
  return 0;
}
