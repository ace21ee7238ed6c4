// Inputs fuzz/fuzz_index_segment.cc found (tests/data/fuzz-regressions/index_segment/), opened as
// the harness opens them. They fail only in a sanitizer build (LANCER_SANITIZE or LANCER_FUZZ),
// where undefined behaviour aborts; elsewhere they check the status an open returns.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "search/segment.h"

namespace lancer::search {
namespace {

namespace fs = std::filesystem;

std::string regression(const std::string& name) {
  const fs::path dir = fs::path(__FILE__).parent_path() / "../../data/fuzz-regressions/index_segment";
  std::ifstream in((dir / name).lexically_normal(), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The harness's input: [u8 column type][u32 index.idx length][index.idx][auxiliary.idx].
Result<Segment> open_harness_input(const std::string& input, const fs::path& root) {
  uint32_t index_bytes = 0;
  std::memcpy(&index_bytes, input.data() + 1, 4);
  const fs::path dir = root / "_indices/00000000-0000-0000-0000-000000000000";
  fs::create_directories(dir);
  std::ofstream(dir / "index.idx", std::ios::binary) << input.substr(5, index_bytes);
  if (input.size() > 5 + size_t{index_bytes}) {
    std::ofstream(dir / "auxiliary.idx", std::ios::binary) << input.substr(5 + index_bytes);
  }
  ::lance::table::IndexMetadata idx;
  idx.mutable_uuid()->set_uuid(std::string(16, '\0'));
  lance::VectorType column;
  constexpr uint32_t kDims[] = {8, 16, 32, 96, 128, 300, 4, 2};
  const auto type = static_cast<uint8_t>(input[0]);
  column.element = (type & 3) == 1   ? lance::ElementType::kFloat16
                   : (type & 3) == 2 ? lance::ElementType::kUInt8
                                     : lance::ElementType::kFloat32;
  column.dim = kDims[(type >> 2) % 8];
  return open_segment(root.string(), idx, column);
}

// An IVF centroids tensor with no data: memcpy from an empty vector's null data() (UBSan); now no
// copy, and the shape check refuses the tensor.
TEST(SegmentFuzzRegressions, EmptyCentroidTensor) {
  const std::string input = regression("empty-centroid-tensor");
  ASSERT_GT(input.size(), 5u);
  const fs::path root = fs::temp_directory_path() / ("lancer-segment-fuzz-" + std::to_string(::getpid()));
  auto s = open_harness_input(input, root);
  fs::remove_all(root);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotSupported) << s.status().to_string();
  EXPECT_NE(s.status().message().find("centroids are not a float32/float16 [nlist, 16] tensor"), std::string::npos)
      << s.status().message();
}

}  // namespace
}  // namespace lancer::search
