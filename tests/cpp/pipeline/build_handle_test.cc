// The public build handle over a copy of a pylance-written fixture: the phase
// list every driver runs, missing/ready per phase, a build run phase by phase
// committing the same index a one-call create_index does; and the staging
// records' checksums.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <map>
#include <thread>

#include "dataset/dataset.h"
#include "lancer/build.h"
#include "pipeline/staging.h"

namespace lancer {
namespace {

namespace fs = std::filesystem;

class BuildHandleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lancer_build_handle_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::copy(fs::path(LANCER_SOURCE_DIR) / "tests/data/reader/f32x16_v2_1.lance", dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }
  CreateIndexOptions options() const {
    CreateIndexOptions o;
    o.uri = dir_.string();
    o.column = "vector";
    o.index_type = "IVF_FLAT";
    o.metric = "euclidean";
    o.num_partitions = 2;
    o.threads = 2;
    return o;
  }
  fs::path dir_;
};

TEST_F(BuildHandleTest, PhasesInOrderWithKinds) {
  auto b = BuildHandle::plan(options());
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const auto phases = (*b)->phases();
  ASSERT_EQ(phases.size(), 3u);
  EXPECT_EQ(phases[0].name, "train");
  EXPECT_EQ(phases[0].kind, PhaseKind::kCollective);
  EXPECT_EQ(phases[0].tasks, 1u);
  EXPECT_EQ(phases[1].name, "encode");
  EXPECT_EQ(phases[1].kind, PhaseKind::kIndependent);
  EXPECT_EQ(phases[1].tasks, (*b)->summary().tasks);
  EXPECT_EQ(phases[1].progress, "build");
  EXPECT_EQ(phases[2].name, "finalize");
  EXPECT_EQ(phases[2].kind, PhaseKind::kSingle);
  EXPECT_STREQ(phase_kind_name(PhaseKind::kIndependent), "independent");
  (*b)->discard();
}

TEST_F(BuildHandleTest, RunsPhaseByPhaseAndCommits) {
  const uint64_t before = (*dataset::Dataset::open(dir_.string()))->version();
  {
    auto planned = BuildHandle::plan(options());
    ASSERT_TRUE(planned.ok()) << planned.status().to_string();
  }
  auto opened = BuildHandle::open(options());
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  BuildHandle& b = **opened;
  EXPECT_EQ(*b.missing("train"), (std::vector<uint64_t>{0}));
  EXPECT_EQ(b.ready("encode").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.run("nope", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.run("train", 1).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(b.run("train", 0).ok());
  EXPECT_TRUE(b.model_trained());
  EXPECT_TRUE(b.missing("train")->empty());
  EXPECT_TRUE(b.ready("encode").ok());
  const uint64_t tasks = b.summary().tasks;
  ASSERT_EQ(b.missing("encode")->size(), tasks);
  for (uint64_t i = 0; i < tasks; ++i) {
    auto r = b.run("encode", i, nullptr, "test");
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_FALSE(r->reused);
    EXPECT_EQ(r->worker, "test");
  }
  EXPECT_TRUE(b.missing("encode")->empty());
  auto again = b.run("encode", 0);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->reused);
  ASSERT_TRUE(b.run("finalize", 0).ok());
  EXPECT_EQ(b.report().version, before + 1);
  EXPECT_GT(b.report().rows, 0u);
  auto ds = dataset::Dataset::open(dir_.string());
  ASSERT_TRUE(ds.ok());
  auto indices = (*ds)->indices();
  ASSERT_TRUE(indices.ok());
  ASSERT_EQ(indices->size(), 1u);
  EXPECT_EQ((*indices)[0].uuid, b.summary().uuid);
  EXPECT_FALSE(fs::exists(dir_ / "_lancer"));  // staging removed
}

// A handle that only planned or opened the build has not loaded the model: the tasks another
// process built must still count as done (a resumed Ray build re-dispatched all of them).
TEST_F(BuildHandleTest, ANewHandleSeesTheTasksOthersBuilt) {
  CreateIndexOptions o = options();
  o.index_type = "IVF_HNSW_FLAT";  // with a graph phase, whose records are checked the same way
  uint64_t tasks = 0, graph_tasks = 0;
  {
    auto b = BuildHandle::plan(o);
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    tasks = (*b)->summary().tasks;
    ASSERT_TRUE((*b)->run("train", 0).ok());
  }
  {
    auto b = BuildHandle::plan(o);  // resumed
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    ASSERT_TRUE((*b)->summary().resumed);
    EXPECT_EQ((*b)->missing_tasks().size(), tasks);  // trained, nothing built
    for (uint64_t i = 0; i < tasks; i += 2) ASSERT_TRUE((*b)->run("encode", i).ok());
  }
  std::vector<uint64_t> odd;
  for (uint64_t i = 1; i < tasks; i += 2) odd.push_back(i);
  {
    auto b = BuildHandle::plan(o);
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    EXPECT_EQ((*b)->missing_tasks(), odd);
  }
  {
    auto b = BuildHandle::open(o);
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    EXPECT_EQ(*(*b)->missing("encode"), odd);
    for (uint64_t i : odd) ASSERT_TRUE((*b)->run("encode", i).ok());
    const auto phases = (*b)->phases();
    ASSERT_EQ(phases[2].name, "graph");
    graph_tasks = phases[2].tasks;
    ASSERT_GE(graph_tasks, 2u);
    ASSERT_TRUE((*b)->run("graph", 1).ok());
  }
  auto b = BuildHandle::open(o);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_TRUE((*b)->missing_tasks().empty());
  EXPECT_TRUE((*b)->missing("encode")->empty());
  std::vector<uint64_t> graphs_left;
  for (uint64_t i = 0; i < graph_tasks; ++i) {
    if (i != 1) graphs_left.push_back(i);
  }
  EXPECT_EQ(*(*b)->missing("graph"), graphs_left);
  (*b)->discard();
}

// A spill damaged after its task finished (a torn page after a power loss: the size is still
// right) must not be merged into the index: finalize fails naming the file, commits nothing,
// and the task is built again by the rerun.
TEST_F(BuildHandleTest, ADamagedSpillIsRebuiltNotCommitted) {
  const uint64_t before = (*dataset::Dataset::open(dir_.string()))->version();
  auto opened = BuildHandle::plan(options());
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  BuildHandle& b = **opened;
  ASSERT_TRUE(b.run("train", 0).ok());
  for (uint64_t i = 0; i < b.summary().tasks; ++i) ASSERT_TRUE(b.run("encode", i).ok());
  const fs::path spill = fs::path(b.summary().staging) / "tasks" / "task-000000.run";
  ASSERT_TRUE(fs::exists(spill));
  {
    std::fstream f(spill, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x40;
    f.seekp(100);
    f.write(&c, 1);
  }
  auto failed = b.run("finalize", 0);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kCorruption);
  EXPECT_NE(failed.status().message().find(spill.string()), std::string::npos) << failed.status().message();
  EXPECT_EQ((*dataset::Dataset::open(dir_.string()))->version(), before);  // nothing committed
  EXPECT_FALSE(fs::exists(dir_ / "_indices"));
  auto again = BuildHandle::open(options());
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*(*again)->missing("encode"), (std::vector<uint64_t>{0}));
  auto rebuilt = (*again)->run("encode", 0);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().to_string();
  EXPECT_FALSE(rebuilt->reused);
  ASSERT_TRUE((*again)->run("finalize", 0).ok());
  EXPECT_EQ((*dataset::Dataset::open(dir_.string()))->version(), before + 1);
}

// Two threads of one process building the same task (Python's build_task from a thread pool)
// each write their own temporary spill: a name unique per process made them write one file.
TEST_F(BuildHandleTest, TwoThreadsBuildingOneTaskBothSucceed) {
  std::string staging;
  {
    auto b = BuildHandle::plan(options());
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    ASSERT_TRUE((*b)->run("train", 0).ok());
    staging = (*b)->summary().staging;
  }
  for (int rep = 0; rep < 10; ++rep) {
    for (const char* suffix : {".run", ".done"})
      fs::remove(fs::path(staging) / "tasks" / ("task-000000" + std::string(suffix)));
    std::latch start(2);
    Status results[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        auto b = BuildHandle::open(options());
        start.arrive_and_wait();
        results[t] = b.ok() ? (*b)->run("encode", 0).status() : b.status();
      });
    }
    for (auto& t : threads) t.join();
    for (const Status& st : results) ASSERT_TRUE(st.ok()) << "rep " << rep << ": " << st.to_string();
    for (const auto& e : fs::directory_iterator(fs::path(staging) / "tasks")) {
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();  // none left behind
    }
  }
  auto b = BuildHandle::open(options());
  ASSERT_TRUE(b.ok());
  for (uint64_t i = 1; i < (*b)->summary().tasks; ++i) ASSERT_TRUE((*b)->run("encode", i).ok());
  auto done = (*b)->run("finalize", 0);
  ASSERT_TRUE(done.ok()) << done.status().to_string();  // the spill both wrote merges
}

TEST_F(BuildHandleTest, CreateIndexIsTheSamePhases) {
  auto report = create_index(options());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_GE(report->tasks, 1u);
  EXPECT_GT(report->rows, 0u);
  EXPECT_EQ(report->reused_tasks, 0u);
  EXPECT_FALSE(fs::exists(dir_ / "_lancer"));
}

// The files of the one index under `root`/_indices, by name.
std::map<std::string, std::string> index_files(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& dir : fs::directory_iterator(root / "_indices")) {
    for (const auto& f : fs::directory_iterator(dir.path())) {
      std::ifstream in(f.path(), std::ios::binary);
      out[f.path().filename().string()] = std::string(std::istreambuf_iterator<char>(in), {});
    }
  }
  return out;
}

// A one-process IVF_HNSW_FLAT build writes auxiliary.idx during the graph phase and its staging
// records in the background: the index must be the bytes a build run phase by phase commits.
TEST_F(BuildHandleTest, OneProcessHnswBuildIsThePhasesBytes) {
  CreateIndexOptions o = options();
  o.index_type = "IVF_HNSW_FLAT";
  const fs::path other = dir_.string() + "_phases";
  fs::remove_all(other);
  fs::copy(dir_, other, fs::copy_options::recursive);
  auto report = create_index(o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_FALSE(fs::exists(dir_ / "_lancer"));
  CreateIndexOptions p = o;
  p.uri = other.string();
  {
    auto planned = BuildHandle::plan(p);
    ASSERT_TRUE(planned.ok()) << planned.status().to_string();
  }
  auto b = BuildHandle::open(p);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  for (const auto& phase : (*b)->phases()) {
    for (uint64_t i = 0; i < phase.tasks; ++i) ASSERT_TRUE((*b)->run(phase.name, i).ok()) << phase.name << " " << i;
  }
  const auto ours = index_files(dir_), phases = index_files(other);
  fs::remove_all(other);
  ASSERT_EQ(ours.size(), 2u);
  EXPECT_TRUE(ours == phases);
}

// A one-process IVF_FLAT / IVF_SQ build over a local dataset is one pass (its tasks leave labels,
// the merge reads the rows from the dataset): the bytes a build run phase by phase (spills)
// commits, for every reader fixture (float16, several pages and fragments, deletions, nulls),
// metric and thread count.
// (These rows are small: the one pass is forced.)
struct PlaceRowsAlways {
  PlaceRowsAlways() { ::setenv("LANCER_PLACE_ROWS", "always", 1); }
  ~PlaceRowsAlways() { ::unsetenv("LANCER_PLACE_ROWS"); }
};

TEST_F(BuildHandleTest, OnePassBuildIsTheSpillPathsBytes) {
  const PlaceRowsAlways forced;
  size_t fixtures = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(LANCER_SOURCE_DIR) / "tests/data/reader")) {
    const std::string name = entry.path().filename().string();
    const bool floats = name.rfind("f32", 0) == 0 || name.rfind("f16", 0) == 0;  // (lancer indexes those)
    if (entry.path().extension() != ".lance" || !floats) continue;
    ++fixtures;
    for (const char* type : {"IVF_FLAT", "IVF_SQ"}) {
      for (const char* metric : {"euclidean", "cosine", "dot"}) {
        SCOPED_TRACE(name + " " + type + " " + metric);
        std::map<std::string, std::string> expected;
        for (int threads : {0, 1, 2}) {  // 0: phase by phase
          fs::remove_all(dir_);
          fs::copy(entry.path(), dir_, fs::copy_options::recursive);
          CreateIndexOptions o = options();
          o.index_type = type;
          o.metric = metric;
          o.num_partitions = 3;
          o.threads = std::max(threads, 1);
          if (threads == 0) {
            auto b = BuildHandle::plan(o);
            ASSERT_TRUE(b.ok()) << b.status().to_string();
            for (const auto& phase : (*b)->phases()) {
              for (uint64_t i = 0; i < phase.tasks; ++i) ASSERT_TRUE((*b)->run(phase.name, i).ok());
            }
            expected = index_files(dir_);
            ASSERT_EQ(expected.size(), 2u);
          } else {
            auto report = create_index(o);
            ASSERT_TRUE(report.ok()) << report.status().to_string();
            EXPECT_TRUE(index_files(dir_) == expected) << threads << " threads";
          }
        }
      }
    }
  }
  EXPECT_GE(fixtures, 5u);
}

// A one-pass task's labels that no longer match their checksum fail the merge with Corruption
// naming the file, and the task is built again by the rerun.
TEST_F(BuildHandleTest, DamagedLabelsAreRebuiltNotCommitted) {
  const PlaceRowsAlways forced;
  const uint64_t before = (*dataset::Dataset::open(dir_.string()))->version();
  {
    auto b = BuildHandle::plan_in_process(options());
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    ASSERT_TRUE((*b)->run("train", 0).ok());
    for (uint64_t i = 0; i < (*b)->summary().tasks; ++i) ASSERT_TRUE((*b)->run("encode", i).ok());
    const fs::path labels = fs::path((*b)->summary().staging) / "tasks" / "task-000000.run";
    const fs::path done = fs::path((*b)->summary().staging) / "tasks" / "task-000000.done";
    // In a one-process build a task's output and record are completed in the background.
    for (int i = 0; i < 1000 && !fs::exists(done); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(fs::exists(done));
    ASSERT_TRUE(fs::exists(labels));
    {
      std::ifstream record(done);
      const std::string text(std::istreambuf_iterator<char>(record), {});
      EXPECT_NE(text.find("\"output\": \"labels\""), std::string::npos) << text;  // not a spill
    }
    {
      std::fstream f(labels, std::ios::in | std::ios::out | std::ios::binary);
      char c = 0;
      f.seekg(8);
      f.read(&c, 1);
      c ^= 0x01;
      f.seekp(8);
      f.write(&c, 1);
    }
    auto failed = (*b)->run("finalize", 0);
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), StatusCode::kCorruption);
    EXPECT_NE(failed.status().message().find(labels.string()), std::string::npos) << failed.status().message();
  }
  EXPECT_EQ((*dataset::Dataset::open(dir_.string()))->version(), before);
  auto report = create_index(options());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_LT(report->reused_tasks, report->tasks);
  EXPECT_EQ((*dataset::Dataset::open(dir_.string()))->version(), before + 1);
}

// A one-process build that stops after its graph phase (a failure before the commit) leaves no
// index files: auxiliary.idx, already written during the graph phase, goes with the staging.
TEST_F(BuildHandleTest, ADiscardedOneProcessHnswBuildLeavesNoIndexFiles) {
  CreateIndexOptions o = options();
  o.index_type = "IVF_HNSW_FLAT";
  fs::create_directories(dir_ / "_indices");  // a dataset's other indexes' folder: it stays
  auto b = BuildHandle::plan_in_process(o);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  for (const auto& phase : (*b)->phases()) {
    if (phase.name == "finalize") break;
    for (uint64_t i = 0; i < phase.tasks; ++i) ASSERT_TRUE((*b)->run(phase.name, i).ok()) << phase.name << " " << i;
  }
  (*b)->discard();
  EXPECT_TRUE(fs::is_empty(dir_ / "_indices"));
  EXPECT_FALSE(fs::exists(dir_ / "_lancer"));
}

TEST(StagingRecords, ChecksumGuardsTheRecord) {
  const fs::path path = fs::temp_directory_path() / ("lancer_record_" + std::to_string(::getpid()) + ".json");
  ASSERT_TRUE(pipeline::write_record(path.string(), "{\"a\": 1}").ok());
  auto j = pipeline::read_record(path.string());
  ASSERT_TRUE(j.ok()) << j.status().to_string();
  EXPECT_EQ(j->at("a"), 1);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "{\"a\": 2}\n#fnv1a64 0000000000000000\n";
  }
  EXPECT_EQ(pipeline::read_record(path.string()).status().code(), StatusCode::kCorruption);
  fs::remove(path);
}

}  // namespace
}  // namespace lancer
