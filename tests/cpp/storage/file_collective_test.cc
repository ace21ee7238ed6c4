#include "storage/file_collective.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace lancer::storage {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const char* name) {
  const fs::path dir =
      fs::temp_directory_path() / (std::string("lancer-fc-") + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

TEST(FileCollective, GathersInRankOrderAndBroadcastsAcrossThreads) {
  const std::string dir = fresh_dir("gather");
  constexpr int kRanks = 3, kSteps = 20;
  std::vector<std::vector<std::string>> seen(kRanks);
  std::vector<std::string> broadcasts(kRanks);
  std::vector<Status> errors(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      FileCollective c(dir, r, kRanks);
      for (int s = 0; s < kSteps; ++s) {
        auto parts = c.all_gather(std::string(size_t(r + s), char('a' + r)));
        if (!parts.ok()) return void(errors[r] = parts.status());
        for (const auto& p : *parts) seen[r].push_back(p);
      }
      std::string data = r == 1 ? "model bytes" : "";
      errors[r] = c.broadcast(&data, 1);
      broadcasts[r] = data;
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_TRUE(errors[r].ok()) << errors[r].to_string();
    ASSERT_EQ(seen[r].size(), size_t(kRanks * kSteps));
    for (int s = 0; s < kSteps; ++s) {
      for (int q = 0; q < kRanks; ++q) EXPECT_EQ(seen[r][s * kRanks + q], std::string(size_t(q + s), char('a' + q)));
    }
    EXPECT_EQ(broadcasts[r], "model bytes");
  }
  // Only the last step's parts are left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_LE(files, size_t(2 * kRanks));
  fs::remove_all(dir);
}

TEST(FileCollective, AMissingRankIsATimeoutNamingIt) {
  const std::string dir = fresh_dir("timeout");
  FileCollective c(dir, 0, 2, /*timeout_s=*/0.2);
  auto parts = c.all_gather("x");
  ASSERT_FALSE(parts.ok());
  EXPECT_EQ(parts.status().code(), StatusCode::kIOError);
  EXPECT_NE(parts.status().message().find("rank 1"), std::string::npos) << parts.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lancer::storage
