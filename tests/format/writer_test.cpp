// Writer behaviour: file mode, age-based cuts, time-range reads, unfinished files.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/error.h"
#include "tests/format/test_util.h"

namespace ebt::format {
namespace {

using testing::Collected;

mode_t file_mode(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

TEST(Writer, CaptureIsCreatedWithMode0600EvenWithUmask000) {
  const std::string path = testing::temp_path("mode.ebt");
  mode_t old = ::umask(0);
  {
    CaptureWriter w(path, testing::sample_session());
    EXPECT_EQ(file_mode(path), 0600u);
    w.finish({});
  }
  EXPECT_EQ(file_mode(path), 0600u);
  // An existing, world-readable file is narrowed too.
  ::chmod(path.c_str(), 0666);
  {
    CaptureWriter w(path, testing::sample_session());
    w.finish({});
  }
  ::umask(old);
  EXPECT_EQ(file_mode(path), 0600u);
  ::unlink(path.c_str());
}

TEST(Writer, OldBlockIsCutByTickAndReadableWhileRecording) {
  const std::string path = testing::temp_path("age.ebt");
  WriterOptions o;
  o.max_block_age = std::chrono::milliseconds(50);
  CaptureWriter w(path, testing::sample_session(), o);
  w.add(CpuSample{1'000, 1, 2, 0, 0});
  auto samples_on_disk = [&] {
    CaptureReader r(path);
    Collected c;
    r.read(c);
    EXPECT_FALSE(r.corrupted()) << testing::damage_text(r);
    return c.samples.size();
  };
  // Not cut yet: the block is young and nothing asked for a cut.
  EXPECT_EQ(samples_on_disk(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  w.tick();
  size_t seen = 0;
  for (int i = 0; i < 500 && seen == 0; ++i) {
    seen = samples_on_disk();
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(seen, 1u);
  // A young block is not cut by tick().
  w.add(CpuSample{2'000, 1, 2, 0, 0});
  w.tick();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(samples_on_disk(), 1u);
  w.finish({});
  EXPECT_EQ(samples_on_disk(), 2u);
  ::unlink(path.c_str());
}

TEST(Writer, TimeRangeReadSkipsBlocksAndKeepsTables) {
  const std::string path = testing::temp_path("range.ebt");
  WriterOptions o;
  o.max_block_bytes = 2048;
  std::vector<CpuSample> in;
  {
    CaptureWriter w(path, testing::sample_session(), o);
    w.add(Stack{1, {{0x1000, FrameKind::kUser}}});
    ProcessInfo app;
    app.pid = 7;
    app.comm = "app";
    w.add(app);
    for (uint64_t i = 0; i < 10000; ++i) {
      CpuSample s{1'000'000'000 + i * 1'000'000, 7, 7, static_cast<uint32_t>(i % 2), 1};
      in.push_back(s);
      w.add(s);
      if (i % 1000 == 0) w.add(LostEvents{s.time_ns, 0, LossSource::kRingBuffer, 1});
    }
    w.finish({});
  }
  CaptureReader r(path);
  ReadOptions opt;
  opt.time_begin_ns = 5'000'000'000;
  opt.time_end_ns = 6'000'000'000;
  ReadStats stats;
  opt.stats = &stats;
  Collected c;
  r.read(c, opt);
  std::vector<CpuSample> want;
  for (const auto& s : in)
    if (s.time_ns >= opt.time_begin_ns && s.time_ns < opt.time_end_ns) want.push_back(s);
  EXPECT_EQ(c.samples, want);
  ASSERT_EQ(c.lost.size(), 1u);  // only the one at 5.0 s
  EXPECT_EQ(c.lost[0].time_ns, 5'000'000'000u);
  EXPECT_EQ(c.stacks.size(), 1u);     // tables regardless of time
  EXPECT_EQ(c.processes.size(), 1u);
  EXPECT_LT(stats.blocks, r.blocks().size() / 2) << "time range did not skip blocks";

  // Kind filter: only stacks; sample blocks are skipped entirely.
  ReadOptions only_stacks;
  only_stacks.kinds = kind_bit(RecordKind::kStack);
  ReadStats st2;
  only_stacks.stats = &st2;
  Collected c2;
  r.read(c2, only_stacks);
  EXPECT_EQ(c2.stacks.size(), 1u);
  EXPECT_EQ(c2.total(), 1u);
  EXPECT_LE(st2.blocks, 2u);
  ::unlink(path.c_str());
}

TEST(Writer, DestructorWithoutFinishStillWritesIndexButNoSessionEnd) {
  const std::string path = testing::temp_path("nofinish.ebt");
  {
    CaptureWriter w(path, testing::sample_session());
    w.add(CpuSample{5, 1, 1, 0, 0});
  }
  CaptureReader r(path);
  EXPECT_TRUE(r.has_index());
  Collected c;
  r.read(c);
  EXPECT_EQ(c.samples.size(), 1u);
  EXPECT_TRUE(c.ends.empty());
  ::unlink(path.c_str());
}

TEST(Writer, StatsAndCreateErrors) {
  const std::string path = testing::temp_path("stats.ebt");
  CaptureWriter w(path, testing::sample_session());
  for (int i = 0; i < 100; ++i) w.add(CpuSample{uint64_t(i), 1, 1, 0, 0});
  WriteStats s = w.finish({});
  EXPECT_THROW(w.add(CpuSample{}), ebt::RuntimeFailure);
  EXPECT_THROW(w.add(Stack{}), ebt::RuntimeFailure);
  w.tick();
  w.flush();
  EXPECT_EQ(s.records, 102u);  // session + 100 samples + session end
  EXPECT_GE(s.blocks, 4u);     // schema, session, data, index
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(s.bytes_written + 32, static_cast<uint64_t>(st.st_size));  // + trailer
  ::unlink(path.c_str());
  EXPECT_THROW(CaptureWriter("/nonexistent-dir/x.ebt", SessionInfo{}), ebt::RuntimeFailure);
}


// take() (the syscall family's path: one event object refilled per ring record)
// must write exactly what add() writes, across block cuts where the batch slots
// are recycled with their payload buffers, and leave the caller an event it can
// refill.
TEST(Writer, TakeWritesWhatAddWrites) {
  const std::string a = testing::temp_path("add.ebt"), b = testing::temp_path("take.ebt");
  WriterOptions o;
  o.max_block_bytes = 16384;                       // many cuts: slots are recycled
  o.max_block_age = std::chrono::milliseconds(60'000);  // no cut by age: both files cut alike
  std::vector<SyscallEvent> in;
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (uint64_t i = 0; i < 3000; ++i) {
    SyscallEvent e;
    e.enter_ns = 1'000'000'000 + i * 1000;
    e.exit_ns = e.enter_ns + 300;
    e.pid = 7;
    e.tid = 7 + uint32_t(i % 3);
    e.kind = i % 2 ? SyscallKind::kWrite : SyscallKind::kRead;
    e.fd = int32_t(5 + i % 50);
    // Empty, short and up to 4 KiB, text and bytes with zeros (packing keeps the zeros apart).
    e.payload.resize(i % 7 == 0 ? 0 : next() % 4097);
    for (auto& c : e.payload) c = uint8_t(i % 3 == 0 ? next() >> 13 : 'a' + next() % 26);
    e.ret = int64_t(e.payload.size());
    e.socket_id = 100 + i % 50;
    in.push_back(std::move(e));
  }
  {
    CaptureWriter w(a, testing::sample_session(), o);
    for (const auto& e : in) w.add(e);
    w.finish({});
  }
  {
    CaptureWriter w(b, testing::sample_session(), o);
    SyscallEvent scratch;
    for (const auto& e : in) {
      scratch.enter_ns = e.enter_ns;
      scratch.exit_ns = e.exit_ns;
      scratch.pid = e.pid;
      scratch.tid = e.tid;
      scratch.kind = e.kind;
      scratch.fd = e.fd;
      scratch.ret = e.ret;
      scratch.socket_id = e.socket_id;
      scratch.payload.assign(e.payload.begin(), e.payload.end());
      w.take(scratch);
    }
    WriteStats st = w.finish({});
    EXPECT_GT(st.blocks, 10u);
  }
  for (const auto& path : {a, b}) {
    CaptureReader r(path);
    Collected c;
    r.read(c);
    EXPECT_FALSE(r.corrupted()) << testing::damage_text(r);
    EXPECT_EQ(c.syscalls, in) << path;
  }
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::vector<char> da{std::istreambuf_iterator<char>(fa), {}}, db{std::istreambuf_iterator<char>(fb), {}};
  EXPECT_EQ(da, db) << "take() and add() wrote different files";
  ::unlink(a.c_str());
  ::unlink(b.c_str());
}

}  // namespace
}  // namespace ebt::format
