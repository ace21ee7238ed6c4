// A one-pass task's labels file: read back as written, and refused when damaged, cut short or
// written for another shape.
#include "pipeline/task_labels.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace lancer::pipeline {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / (name + "." + std::to_string(::getpid()))).string();
}

TEST(TaskLabels, RoundTripsAndRefusesDamage) {
  const std::string path = temp_path("labels");
  TaskLabels written(path, 7, 1000);
  for (uint64_t i = 0; i < 1000; ++i) {
    if (i % 9 != 4) written.set(i, static_cast<uint32_t>((i * 31) % 7));
  }
  const uint64_t size = written.seal();
  auto finished = written.finish();
  ASSERT_TRUE(finished.ok()) << finished.status().to_string();
  EXPECT_EQ(*finished, size);
  EXPECT_EQ(fs::file_size(path), size);

  auto read = TaskLabels::open(path, 7, 1000, size);
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  ASSERT_EQ((*read)->labels().size(), 1000u);
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ((*read)->labels()[i], i % 9 == 4 ? TaskLabels::kNotIndexed : (i * 31) % 7) << i;
  }
  EXPECT_EQ(TaskLabels::open(path, 8, 1000).status().code(), StatusCode::kCorruption);  // another model
  EXPECT_EQ(TaskLabels::open(path, 7, 999).status().code(), StatusCode::kCorruption);   // another task

  auto flip = [&](uint64_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    char c = 0;
    f.seekg(static_cast<std::streamoff>(at));
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  };
  for (uint64_t at : {uint64_t{0}, uint64_t{2001}, size - 20, size - 1}) {  // a label, the footer, the magic
    flip(at);
    auto damaged = TaskLabels::open(path, 7, 1000);
    EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption) << at;
    EXPECT_NE(damaged.status().message().find(path), std::string::npos);
    flip(at);
  }
  ASSERT_TRUE(TaskLabels::open(path, 7, 1000).ok());
  fs::resize_file(path, size - 1);  // an unfinished write
  EXPECT_EQ(TaskLabels::open(path, 7, 1000).status().code(), StatusCode::kCorruption);
  fs::remove(path);
}

// A label past the partitions is refused even where the checksum matches.
TEST(TaskLabels, RefusesALabelPastThePartitions) {
  const std::string path = temp_path("labels_past");
  TaskLabels written(path, 9, 10);
  written.set(3, 12);
  ASSERT_TRUE(written.finish().ok());
  auto read = TaskLabels::open(path, 9, 10);
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_NE(read.status().message().find("past the partitions"), std::string::npos) << read.status().message();
  fs::remove(path);
}

}  // namespace
}  // namespace lancer::pipeline
