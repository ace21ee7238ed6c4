// .npy inputs (supplied centroids, codebooks, query files).
#include <vector>

#include "core/npy.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)lancer::core::parse_npy(std::vector<uint8_t>(data, data + size), "queries.npy");
  return 0;
}
