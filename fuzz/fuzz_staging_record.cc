// lancer's staging records (build.json, task .done records): checksummed JSON. The first byte
// picks: raw bytes (the checksum line must catch them), or a body given a valid checksum by
// write_record, then read as a build record or as a plain record, so the JSON and the record's
// fields are reached.
#include "fuzz_support.h"
#include "pipeline/staging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lancer::fuzz::Input in(data, size);
  const uint8_t mode = in.u8() % 3;
  const std::string body = in.take(in.rest_size());
  const std::string path = lancer::fuzz::scratch_dir() + "/build.json";
  if (mode == 0) {
    lancer::fuzz::write_scratch("build.json", reinterpret_cast<const uint8_t*>(body.data()), body.size());
    (void)lancer::pipeline::read_record(path);
    return 0;
  }
  if (!lancer::pipeline::write_record(path, body).ok()) return 0;
  if (mode == 1) {
    (void)lancer::pipeline::parse_build_record(path);
  } else {
    (void)lancer::pipeline::read_record(path);
  }
  return 0;
}
