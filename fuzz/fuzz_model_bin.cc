// A build's frozen model (`model.bin` in the staging folder, or broadcast by rank 0).
#include <string>

#include "fuzz_support.h"
#include "pipeline/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)lancer::pipeline::parse_model(std::string(reinterpret_cast<const char*>(data), size), "model.bin");
  return 0;
}
