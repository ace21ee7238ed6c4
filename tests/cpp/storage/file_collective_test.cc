#include "storage/file_collective.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
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

// A rank retried while its older attempt still runs: both write the same parts. Each writes
// under its own temporary name (a shared `<step>.<rank>.tmp` let one rename the other's
// half-written file into place), so a reader sees one attempt's part, whole.
TEST(FileCollective, ARetriedRankAndAStaleOneNeverMixTheirParts) {
  const std::string dir = fresh_dir("retried");
  constexpr int kSteps = 30;
  constexpr size_t kBytes = 256 << 10;
  std::atomic<bool> writing{true};
  std::atomic<int> checked{0};
  std::string bad;
  std::thread reader([&] {
    while (writing.load()) {
      for (int s = 1; s <= kSteps; ++s) {
        std::ifstream f(fs::path(dir) / (std::to_string(s) + ".0"), std::ios::binary);
        if (!f) continue;
        const std::string part(std::istreambuf_iterator<char>(f), {});
        if (part.size() != kBytes || part.find_first_not_of(part.front()) != std::string::npos) {
          bad = "step " + std::to_string(s) + ": " + std::to_string(part.size()) + " bytes, mixed";
        }
        checked.fetch_add(1);
      }
    }
  });
  std::vector<std::thread> attempts;
  std::vector<Status> errors(2);
  for (int a = 0; a < 2; ++a) {
    attempts.emplace_back([&, a] {
      FileCollective c(dir, 0, 1);  // rank 0 of 1: every step is a write, never a wait
      for (int s = 0; s < kSteps && errors[a].ok(); ++s) {
        errors[a] = c.all_gather(std::string(kBytes, char('a' + a))).status();
      }
    });
  }
  for (auto& t : attempts) t.join();
  writing = false;
  reader.join();
  for (const Status& st : errors) EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_TRUE(bad.empty()) << bad;
  EXPECT_GT(checked.load(), 0);
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find("tmp"), std::string::npos) << e.path();
  }
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
