// Regression tests for hostile captures (issue 13, docs/security.md): every
// class of input that crashed, hung or blew up a reader is rebuilt here, by
// the project's own writer plus tests/fuzz/capture_edit.h, and must now be
// refused cheaply with a damage entry while the sound rest is still read.
// Inputs the fuzzers found are kept under tests/fuzz/regressions/ and run
// through `ebtrace info`, `dump` and `report` (the last test).
#include <dirent.h>
#include <iconv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "format/capture.capnp.h"
#include "format/reader.h"
#include "format/schema_util.h"
#include "format/writer.h"
#include "report/flamegraph_svg.h"
#include "report/context.h"
#include "report/pprof.pb.h"
#include "report/trace_json.h"
#include "report/utf8.h"
#include "symbolize/demangle.h"
#include "tests/fuzz/capture_edit.h"
#include "unwind/offline_unwinder.h"

namespace ebt::fuzz {
namespace {

using format::CaptureReader;
using format::CaptureWriter;
constexpr uint64_t kT0 = 1'000'000'000;

std::string temp_dir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/ebt-hostile-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir;
}

SessionInfo session() {
  SessionInfo s;
  s.hostname = "hostile";
  s.clock_monotonic_ns = kT0;
  s.clock_realtime_ns = 1'790'000'000'000'000'000ull;
  s.start_ns = kT0;
  s.sample_frequency_hz = 99;
  return s;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// A capture written by the real writer; returns its path.
std::string capture(const std::string& name, const std::function<void(CaptureWriter&)>& body) {
  std::string path = temp_dir() + "/" + name;
  CaptureWriter w(path, session());
  body(w);
  w.finish(SessionEnd{kT0 + 1'000'000'000, 0, 0});
  return path;
}

void samples(CaptureWriter& w, uint32_t stack_id, int n, uint32_t pid = 42) {
  for (int i = 0; i < n; ++i) w.add(CpuSample{kT0 + 1000 * uint64_t(i + 1), pid, pid, 0, stack_id});
}

struct Count : format::RecordVisitor {
  size_t samples = 0, stacks = 0;
  void on(const CpuSample&) override { ++samples; }
  void on(const Stack&) override { ++stacks; }
};

std::string damage_text(const CaptureReader& r) {
  std::string s;
  for (const auto& d : r.damage()) s += format::describe(d) + "\n";
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct CliRun {
  int status = -1;  // exit code; 128 + signal; -1: killed by the timeout
  std::string out, err;
};

// Runs the real ebtrace binary with a hard timeout.
CliRun ebtrace(const std::vector<std::string>& args, int timeout_s = 120) {
  std::string out = temp_dir() + "/run.out", err = temp_dir() + "/run.err";
  pid_t pid = fork();
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<char*> argv{const_cast<char*>(EBTRACE_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    alarm(unsigned(timeout_s));  // SIGALRM kills it: a hang fails the test
    execv(EBTRACE_BIN, argv.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CliRun r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st) == SIGALRM ? -1 : 128 + WTERMSIG(st);
  auto slurp = [](const std::string& p) {
    auto b = read_bytes(p);
    return std::string(b.begin(), b.end());
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// ---- the reader's input ------------------------------------------------------

// libFuzzer stopped fuzz_reader with "fuzz target overwrites its const input":
// after decoding a block the reader handed the block's whole pages back to the
// kernel (MADV_DONTNEED, to keep its resident memory at one block), which on a
// capture in the caller's memory (anonymous pages) zero-fills them. A reader
// must never write into its input: here the input is read-only memory (a store
// faults) and must be byte-identical after every kind of pass.
TEST(Hostile, ReaderNeverWritesIntoAnInMemoryCapture) {
  std::string text(96 * 1024, ' ');  // printable noise LZ4 cannot shrink: a block of many whole pages
  std::minstd_rand rng(13);
  for (char& c : text) c = char(' ' + rng() % 95);
  std::string path = capture("const-input.ebt", [&](CaptureWriter& w) {
    w.add(StringEntry{1, text});
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 5);
  });
  const std::vector<uint8_t> bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 64 * 1024u);
  const size_t len = bytes.size();
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  std::memcpy(mem, bytes.data(), len);
  ASSERT_EQ(mprotect(mem, len, PROT_READ), 0);
  const auto* data = static_cast<const uint8_t*>(mem);
  {
    CaptureReader r("const-input.ebt", data, len);
    Count n;
    r.read(n);
    r.verify();
    std::FILE* null = std::fopen("/dev/null", "w");
    ASSERT_NE(null, nullptr);
    r.dump_json(null);
    std::fclose(null);
    Count again;
    r.read(again);
    EXPECT_EQ(n.samples, 5u);
    EXPECT_EQ(again.samples, 5u);
    EXPECT_EQ(damage_text(r), "");
  }
  size_t changed = 0;
  for (size_t i = 0; i < len; ++i) changed += data[i] != bytes[i];
  EXPECT_EQ(changed, 0u) << "bytes of the input changed by reading it";
  munmap(mem, len);
}

// ---- container arithmetic ----------------------------------------------------

// The trailer's index_offset + index_bytes wrapped around 2^64 onto the right
// end, so the old check passed and the index header was read from far outside
// the mapping (SIGSEGV in info, dump and every report).
TEST(Hostile, TrailerOffsetsThatWrapAreRefusedAndTheFileIsScanned) {
  std::string path = capture("trailer.ebt", [](CaptureWriter& w) {
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 6);
  });
  auto c = parse_capture(read_bytes(path).data(), read_bytes(path).size());
  ASSERT_TRUE(c);
  WriteChoices wc;
  wc.tamper_trailer = [](format::disk::Trailer& t) {
    uint64_t end = t.index_offset + t.index_bytes;
    t.index_offset = 0x8000000000000000ull;
    t.index_bytes = end - t.index_offset;  // index_offset + index_bytes == end (mod 2^64)
  };
  write_bytes(path, write_capture(*c, wc));
  CaptureReader r(path);
  Count n;
  r.read(n);
  EXPECT_FALSE(r.has_index());
  EXPECT_EQ(n.samples, 6u);
  EXPECT_NE(damage_text(r).find("index unusable (trailer points outside the file)"), std::string::npos)
      << damage_text(r);
  for (const char* cmd : {"info", "dump", "report"}) {
    CliRun run = ebtrace({cmd, path});
    EXPECT_EQ(run.status, 2) << cmd << ": " << run.err;
  }
}

// An index entry's offset near 2^64: offset + header + stored wrapped below
// the index and the block header was read out of bounds.
TEST(Hostile, IndexEntryOffsetsThatWrapAreRefusedAndTheFileIsScanned) {
  std::string path = capture("entry.ebt", [](CaptureWriter& w) {
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 6);
  });
  auto bytes = read_bytes(path);
  auto c = parse_capture(bytes.data(), bytes.size());
  ASSERT_TRUE(c);
  WriteChoices wc;
  wc.tamper_index = [](size_t i, uint64_t& offset, uint32_t& stored) {
    if (i == 1) offset = 0 - uint64_t{56} - stored + 64;  // offset + 56 + stored == 64
  };
  write_bytes(path, write_capture(*c, wc));
  CaptureReader r(path);
  Count n;
  r.read(n);
  EXPECT_FALSE(r.has_index());
  EXPECT_EQ(n.samples, 6u);
  EXPECT_NE(damage_text(r).find("entries out of order or out of range"), std::string::npos) << damage_text(r);
}

// ---- decode budget -----------------------------------------------------------

// A message of N zero words packs to ~N/128 bytes and LZ4 shrinks that again:
// a few KB of file decoded to gigabytes per pass (the 209 KB file kept
// info and report busy for 160 s). Now each block and each pass has a budget.
TEST(Hostile, PackedZeroRunsHitTheDecodeBudgetAndOtherBlocksStillRead) {
  std::string path = capture("zeros.ebt", [](CaptureWriter& w) {
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 6);
  });
  auto bytes = read_bytes(path);
  auto c = parse_capture(bytes.data(), bytes.size());
  ASSERT_TRUE(c);
  // 1000 messages of 1 Mi zero words (8 MiB each) in each of 4 blocks: 32 GiB unpacked.
  EditFrame bomb;
  bomb.kind = 6;  // string: a table kind, always read
  bomb.unpacked.assign(8 + (8u << 20), 0);
  uint32_t words = 1u << 20;
  std::memcpy(bomb.unpacked.data() + 4, &words, 4);
  std::vector<uint8_t> packed = pack(bomb.unpacked);
  bomb.unpacked.clear();
  bomb.packed = packed;
  EditBlock b;
  b.header.type = format::disk::kDataBlock;
  b.header.records = 1000;
  for (int i = 0; i < 1000; ++i) b.frames.push_back(bomb);
  for (int i = 0; i < 4; ++i) c->blocks.insert(c->blocks.begin() + 2, b);  // after the session block
  WriteChoices wc;
  wc.codec = WriteChoices::kLz4;
  auto out = write_capture(*c, wc);
  EXPECT_LT(out.size(), 200'000u);
  write_bytes(path, out);
  auto t0 = std::chrono::steady_clock::now();
  CaptureReader r(path);
  Count n;
  r.read(n);
  EXPECT_LT(seconds_since(t0), 120.0);  // a hang guard: the unbounded input took minutes
  EXPECT_EQ(n.samples, 6u);  // the sound blocks after the bombs
  EXPECT_NE(damage_text(r).find("decode budget exhausted: messages decoded in this block exceed"), std::string::npos)
      << damage_text(r);
}

TEST(Hostile, MillionsOfEmptyMessagesInABlockAreRefused) {
  std::string path = capture("empty-messages.ebt", [](CaptureWriter& w) { samples(w, 0, 3); });
  auto bytes = read_bytes(path);
  auto c = parse_capture(bytes.data(), bytes.size());
  ASSERT_TRUE(c);
  EditFrame empty;
  empty.kind = 6;
  empty.unpacked.assign(16, 0);  // one segment of one word: a null root (an empty string record)
  empty.unpacked[4] = 1;
  EditBlock b;
  b.header.type = format::disk::kDataBlock;
  b.frames.assign(1'100'000, empty);
  c->blocks.insert(c->blocks.begin() + 2, b);
  WriteChoices wc;
  wc.codec = WriteChoices::kLz4;
  write_bytes(path, write_capture(*c, wc));
  auto t0 = std::chrono::steady_clock::now();
  CaptureReader r(path);
  Count n;
  r.read(n);
  EXPECT_LT(seconds_since(t0), 120.0);  // a hang guard: the unbounded input took minutes
  EXPECT_EQ(n.samples, 3u);
  EXPECT_TRUE(r.corrupted());
  EXPECT_NE(damage_text(r).find("(limit"), std::string::npos) << damage_text(r);
}

// A block header claiming 64 MiB uncompressed for a 16-byte LZ4 payload (with
// valid checksums) made the reader size and zero a 64 MiB buffer before LZ4
// failed; alternating with small blocks, every other block cost 64 MiB of
// zeroing per pass: tens of seconds for a 1 MB file (found reading the code
// during session 9's fuzzing, not by a fuzzer: each input is a few KiB). No
// LZ4 block expands more than 255 times, so such headers are refused first.
TEST(Hostile, BlocksClaimingMoreThanLz4CanExpandAreRefusedBeforeDecoding) {
  std::string path = capture("raw-claims.ebt", [](CaptureWriter& w) { samples(w, 0, 3); });
  auto bytes = read_bytes(path);
  auto c = parse_capture(bytes.data(), bytes.size());
  ASSERT_TRUE(c);
  WriteChoices no_index;
  no_index.index = false;
  auto out = write_capture(*c, no_index);
  const std::vector<uint8_t> payload = {0x10, 0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  constexpr int kBlocks = 2000;
  for (int i = 0; i < kBlocks; ++i) {
    format::disk::BlockHeader h;
    h.type = format::disk::kDataBlock;
    bool big = i % 2 == 0;  // alternating sizes: a reused buffer is zeroed again each time
    h.codec = big ? format::disk::kCodecLz4 : format::disk::kCodecNone;
    h.stored_bytes = static_cast<uint32_t>(payload.size());
    h.raw_bytes = big ? format::disk::kMaxRawBlockBytes : h.stored_bytes;
    h.records = 1;
    h.sequence = static_cast<uint32_t>(c->blocks.size() + i);
    h.first_time_ns = kT0;
    h.last_time_ns = kT0;
    h.kind_mask = ~uint64_t{0};
    h.payload_crc = format::disk::crc32(payload.data(), payload.size());
    uint8_t raw[format::disk::kBlockHeaderBytes];
    format::disk::encode_block_header(h, raw);
    out.insert(out.end(), raw, raw + sizeof raw);
    out.insert(out.end(), payload.begin(), payload.end());
  }
  write_bytes(path, out);
  auto t0 = std::chrono::steady_clock::now();
  CaptureReader r(path);
  Count n;
  r.read(n);
  r.read(n);
  EXPECT_LT(seconds_since(t0), 60.0);  // a hang guard; the refusal below is the real check
  EXPECT_EQ(n.samples, 6u);
  std::string d = damage_text(r);
  EXPECT_NE(d.find("block header has inconsistent codec/sizes"), std::string::npos) << d;
  EXPECT_EQ(d.find("decompress"), std::string::npos) << d;  // no claimed 64 MiB buffer was ever filled
}

// ---- stack depth -------------------------------------------------------------

// A 300,000-frame stack (13 KB on disk) overflowed the C++ stack in the flame
// graph code, which recursed once per frame. The reader now refuses stacks
// over 4096 frames (only that record), and the flame graph does not recurse.
TEST(Hostile, StacksOverTheFrameLimitAreRefusedAloneAndReportStillPrints) {
  std::string path = capture("deep.ebt", [](CaptureWriter& w) {
    Stack deep{1, {}};
    deep.frames.assign(300'000, Frame{0x401000, FrameKind::kUser});
    w.add(deep);
    w.add(Stack{2, {{0x402000, FrameKind::kUser}}});
    samples(w, 1, 4);
    samples(w, 2, 5);
  });
  CaptureReader r(path);
  Count n;
  r.read(n);
  EXPECT_EQ(n.stacks, 1u);
  EXPECT_EQ(n.samples, 9u);
  EXPECT_NE(damage_text(r).find("record refused: stack 1 has 300000 frames (limit 4096 per stack)"),
            std::string::npos)
      << damage_text(r);
  std::string svg = temp_dir() + "/deep.svg";
  CliRun run = ebtrace({"report", path, "--flamegraph", svg});
  EXPECT_EQ(run.status, 2) << run.err;
  EXPECT_NE(run.err.find("limit 4096 per stack"), std::string::npos) << run.err;
  CliRun folded = ebtrace({"report", path, "--folded"});
  EXPECT_NE(folded.out.find("[unknown stack] 4"), std::string::npos) << folded.out;
}

TEST(Hostile, FlameGraphOfAVeryDeepPathNeedsNoRecursion) {
  report::ReportContext p;
  uint32_t f = p.frames.intern("f", report::FrameType::kUser);
  report::StackAggregate agg;
  agg.stacks.push_back({1, std::vector<uint32_t>(150'000, f), 1, 1});
  agg.total_weight = agg.total_count = 1;
  std::ostringstream out;
  report::FlameGraphOptions o;
  o.min_width_px = 0;
  report::write_flamegraph_svg(p, agg, o, out);
  std::string s = out.str();
  size_t frames = 0;
  for (size_t pos = 0; (pos = s.find("<g class=\"f\"", pos)) != std::string::npos; ++pos) ++frames;
  EXPECT_EQ(frames, 150'001u);  // "all" and every level
}

// ---- embedded schema ---------------------------------------------------------

// Rewrites the embedded schema block (block 0) through `edit` on its nodes.
std::string with_schema(const std::string& name, const std::function<void(capnp::MallocMessageBuilder&)>& edit) {
  std::string path = capture(name, [](CaptureWriter& w) {
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 2);
  });
  auto bytes = read_bytes(path);
  auto c = parse_capture(bytes.data(), bytes.size());
  EXPECT_TRUE(c && !c->blocks.empty() && c->blocks[0].header.type == format::disk::kSchemaBlock);
  capnp::MallocMessageBuilder msg;
  {
    std::vector<uint8_t> flat = format::encode_schema_block(format::compiled_record_schema());
    kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(flat.data()), flat.size() / 8);
    capnp::FlatArrayMessageReader in(words);
    msg.setRoot(in.getRoot<format::wire::SchemaBlock>());
  }
  edit(msg);
  auto flat = capnp::messageToFlatArray(msg);
  auto fb = flat.asBytes();
  c->blocks[0].frames.at(0).unpacked.assign(fb.begin(), fb.end());
  write_bytes(path, write_capture(*c));
  return path;
}

// `dump` recursed forever on a schema whose group field has its own struct as
// type (Cap'n Proto's loader accepts it; groups need no pointer, so the
// message nesting limit never stops the walk).
TEST(Hostile, SelfContainedGroupInTheEmbeddedSchemaIsRefused) {
  std::string path = with_schema("group.ebt", [](capnp::MallocMessageBuilder& msg) {
    auto nodes = msg.getRoot<format::wire::SchemaBlock>().getNodes();
    for (auto n : nodes) {
      if (!n.isStruct() || !kj::StringPtr(n.getDisplayName()).endsWith(":Stack")) continue;
      n.getStruct().setIsGroup(true);
      // Turn the first field into a group of Stack itself.
      auto f = n.getStruct().getFields()[0];
      f.initGroup().setTypeId(n.getId());
    }
  });
  CliRun run = ebtrace({"dump", path});
  EXPECT_EQ(run.status, 2) << run.err;
  EXPECT_NE(run.err.find("embedded schema unusable"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("\"_kind\":\"cpuSample\""), std::string::npos);  // through the compiled schema
}

// Debian 12's Cap'n Proto 0.9.2 SchemaLoader recursed until the stack
// overflowed on a node whose name is not valid text (its error context
// re-reads the same text). Such nodes never reach the loader now.
TEST(Hostile, InvalidTextInTheEmbeddedSchemaIsRefusedBeforeTheLoader) {
  std::string path = with_schema("text.ebt", [](capnp::MallocMessageBuilder& msg) {
    auto nodes = msg.getRoot<format::wire::SchemaBlock>().getNodes();
    // A different schema than the compiled one (so it must be loaded)...
    nodes[0].setScopeId(nodes[0].getScopeId() + 1);
  });
  // ...whose Record node name loses its NUL terminator.
  auto bytes = read_bytes(path);
  auto c = parse_capture(bytes.data(), bytes.size());
  ASSERT_TRUE(c);
  auto& u = c->blocks[0].frames.at(0).unpacked;
  std::string needle = "capture.capnp:Record";
  auto it = std::search(u.begin(), u.end(), needle.begin(), needle.end());
  ASSERT_NE(it, u.end());
  ASSERT_EQ(*(it + needle.size()), 0);
  *(it + needle.size()) = 'X';
  write_bytes(path, write_capture(*c));
  for (const char* cmd : {"dump", "info"}) {
    CliRun run = ebtrace({cmd, path});
    EXPECT_EQ(run.status, 2) << cmd << ": " << run.err;
    EXPECT_NE(run.err.find("embedded schema unusable"), std::string::npos) << cmd << ": " << run.err;
  }
}

// ---- report / trace ----------------------------------------------------------

// An event 2^63 ns after the origin made ts() negate INT64_MIN (undefined;
// release builds printed a negative duration).
TEST(Hostile, TraceTimesFarFromTheOriginDoNotOverflow) {
  report::TraceJson t(1000);
  t.slice(1, 1, 1000 + (uint64_t{1} << 63), uint64_t{1} << 63, "x", "cat");
  std::ostringstream out;
  t.write(out);
  std::string s = out.str();
  EXPECT_NE(s.find("\"ts\":-9223372036854775.808"), std::string::npos) << s;
  EXPECT_NE(s.find("\"dur\":9223372036854775.808"), std::string::npos) << s;
}

// fuzz_report (session 8 long run): a --sched histogram slot is a shift count
// (quarter octaves); slot 2368 from a crafted row shifted a 64-bit value by
// 590 (undefined; UBSan). The reader now refuses a row naming a slot the
// kernel side cannot write (input: tests/fuzz/regressions/found-7f65282f0252).
TEST(Hostile, RunqLatencySlotsOutOfRangeAreRefused) {
  std::string path = capture("runq-slot.ebt", [](CaptureWriter& w) {
    w.add(RunqLatency{kT0, kT0 + 1'000'000, 42, 42, 0, 3, 30'000, 20'000, {4, 9}, {2, 1}});
    w.flush();  // the bad row in a block of its own: the good one stays readable
    w.add(RunqLatency{kT0, kT0 + 1'000'000, 43, 43, 1, 2, 20'000, 0, {5, 2368}, {1, 1}});
  });
  struct Rows : format::RecordVisitor {
    using format::RecordVisitor::on;
    std::vector<uint32_t> pids;
    void on(const RunqLatency& r) override { pids.push_back(r.pid); }
  } rows;
  CaptureReader r(path);
  r.read(rows);
  EXPECT_EQ(rows.pids, std::vector<uint32_t>{42});
  EXPECT_NE(damage_text(r).find("runq latency row has histogram slot 2368 (slots 0-159)"), std::string::npos)
      << damage_text(r);
  for (const char* fmt : {"text", "csv", "json"}) {
    CliRun run = ebtrace({"report", path, "--sched", "--format", fmt});
    EXPECT_EQ(run.status, 2) << fmt << ": " << run.err;
    EXPECT_NE(run.err.find("histogram slot 2368"), std::string::npos) << fmt << ": " << run.err;
    EXPECT_NE(run.out.find("42"), std::string::npos) << fmt << ": " << run.out;
  }
}

// A Mapping naming a FIFO hung `report` forever in a blocking open (devices
// were opened too). Same for --symfs lookups.
TEST(Hostile, FifosNamedByMappingsOrUnderSymfsAreNotOpened) {
  std::string dir = temp_dir() + "/symfs";
  mkdir(dir.c_str(), 0755);
  std::string fifo = temp_dir() + "/fifo-object";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(std::system(("mkdir -p " + dir + temp_dir()).c_str()), 0);
  ASSERT_EQ(mkfifo((dir + fifo).c_str(), 0600), 0);
  std::string path = capture("fifo.ebt", [&](CaptureWriter& w) {
    w.add(Mapping{42, 0x400000, 0x500000, 0, fifo, {}, kT0});
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 3);
  });
  CliRun run = ebtrace({"report", path, "--folded", "-v", "--symfs", dir}, 60);
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("[fifo-object+0x1000] 3"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("not a regular file"), std::string::npos) << run.err;
}

TEST(Hostile, OverlongMangledNamesAreNotDemangled) {
  std::string name = "_Z";
  for (int i = 0; i < 20000; ++i) name += "PPPPPPPPPP";
  name += "i";
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(symbolize::demangle(name), name);
  EXPECT_LT(seconds_since(t0), 1.0);
  EXPECT_EQ(symbolize::demangle("_ZN2ns4workEv"), "ns::work()");
}

// ---- names that are not UTF-8 -------------------------------------------------

// An independent check (glibc's iconv, not report/utf8.h): is `s` valid UTF-8?
bool is_utf8(const std::string& s) {
  iconv_t cd = iconv_open("UTF-8", "UTF-8");
  if (cd == iconv_t(-1)) return false;
  std::string in = s;
  std::string out(s.size() * 4 + 16, '\0');
  char* ip = in.data();
  char* op = out.data();
  size_t il = in.size(), ol = out.size();
  bool ok = iconv(cd, &ip, &il, &op, &ol) != size_t(-1) && il == 0;
  iconv_close(cd);
  return ok;
}

TEST(Hostile, ValidUtf8ReplacesEveryByteThatIsNotUtf8) {
  using report::valid_utf8;
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
  EXPECT_EQ(valid_utf8(std::string("a\0b", 3)), std::string("a\0b", 3));
  EXPECT_EQ(valid_utf8("caf\xe9"), "caf" + fffd);                       // Latin-1
  EXPECT_EQ(valid_utf8("\x80x"), fffd + "x");                           // stray continuation
  EXPECT_EQ(valid_utf8("\xc0\xaf"), fffd + fffd);                       // overlong '/'
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), fffd + fffd + fffd);            // surrogate U+D800
  EXPECT_EQ(valid_utf8("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd); // above U+10FFFF
  EXPECT_EQ(valid_utf8("ab\xe2\x82"), "ab" + fffd + fffd);              // truncated at the end
  EXPECT_EQ(valid_utf8("\xff\xfe"), fffd + fffd);
  std::string all;
  for (int i = 0; i < 256; ++i) all += char(i);
  EXPECT_TRUE(is_utf8(valid_utf8(all)));
  EXPECT_FALSE(is_utf8(all));  // the oracle itself can fail
}

std::string gunzip(const std::vector<uint8_t>& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = const_cast<Bytef*>(gz.data());
  z.avail_in = uInt(gz.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  EXPECT_EQ(rc, Z_STREAM_END);
  return out;
}

// fuzz_report: pprof's string_table got a comm that was not UTF-8, which
// proto3 forbids (protobuf logs it when writing; strict readers refuse the
// file). Every output whose format requires UTF-8 (pprof, speedscope JSON,
// trace JSON, flame graph SVG) now gets valid UTF-8, with U+FFFD per bad byte.
TEST(Hostile, NamesThatAreNotUtf8BecomeValidUtf8InEveryUtf8Output) {
  const std::string comm = "w\xff" "rk\xc3(";
  std::string path = capture("not-utf8.ebt", [&](CaptureWriter& w) {
    ProcessInfo p;
    p.pid = 42;
    p.ppid = 1;
    p.comm = comm;
    p.exe = "/opt/caf\xe9/bin/app\xed\xa0\x80";
    p.time_ns = kT0;
    w.add(p);
    w.add(Mapping{42, 0x400000, 0x500000, 0, p.exe, {}, kT0});
    w.add(Stack{1, {{0x401000, FrameKind::kUser}}});
    samples(w, 1, 3);
  });
  const std::string fffd = "\xef\xbf\xbd";
  const std::string frame = "app" + fffd + fffd + fffd;   // the mapping's file name, each bad byte replaced
  const std::string clean_comm = "w" + fffd + "rk" + fffd + "(";

  std::string pb = temp_dir() + "/not-utf8.pb.gz";
  CliRun run = ebtrace({"report", path, "--pprof", pb, "--no-debuginfod"});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err.find("UTF-8"), std::string::npos) << run.err;  // protobuf's complaint
  perftools::profiles::Profile profile;
  ASSERT_TRUE(profile.ParseFromString(gunzip(read_bytes(pb))));  // proto3 parsing checks UTF-8 too
  bool saw_comm = false, saw_frame = false;
  for (const auto& s : profile.string_table()) {
    EXPECT_TRUE(is_utf8(s)) << s;
    saw_comm = saw_comm || s == clean_comm;
    saw_frame = saw_frame || s.find(frame) != std::string::npos;
  }
  EXPECT_TRUE(saw_comm);
  EXPECT_TRUE(saw_frame);

  for (const char* option : {"--speedscope", "--trace", "--flamegraph"}) {
    std::string out = temp_dir() + "/not-utf8.out";
    CliRun r = ebtrace({"report", path, option, out, "--no-debuginfod"});
    ASSERT_EQ(r.status, 0) << option << ": " << r.err;
    auto b = read_bytes(out);
    std::string doc(b.begin(), b.end());
    EXPECT_TRUE(is_utf8(doc)) << option;
    EXPECT_NE(doc.find(frame), std::string::npos) << option << ": " << doc.substr(0, 3000);
  }
}

// ---- symbolizer and offline unwinder work bounds ------------------------------

// The offline unwinder rebuilt the layout of every raw stack from all the
// process's mappings, pairwise: 16,000 mappings x 1,000 stacks did not finish
// in a minute. It now computes each layout once per mapping epoch, in
// O(n log n), and checks overlaps with one sort.
TEST(Hostile, OfflineUnwinderLayoutsAreNotQuadratic) {
  unwind::OfflineUnwinder u;
  for (uint32_t i = 0; i < 16000; ++i)  // overlapping: every one starts inside the previous one
    u.add(Mapping{7, 0x10000000 + uint64_t(i) * 0x1000, 0x10000000 + uint64_t(i) * 0x1000 + 0x4000, 0,
                  "/lib/o" + std::to_string(i % 50), {uint8_t(i)}, kT0 + i % 4});
  StackSnapshot s;
  s.pid = s.tid = 7;
  s.ip = 0x10001000;
  s.sp = 0x7ff000000000;
  s.stack.assign(64, 0);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<uint64_t> pcs;
  for (int i = 0; i < 1000; ++i) {
    s.time_ns = kT0 + uint64_t(i % 8);
    pcs.clear();
    u.unwind(s, &pcs, 127);
    ASSERT_EQ(pcs.size(), 1u);  // no tables: the ip alone
  }
  EXPECT_LT(seconds_since(t0), 120.0);  // a hang guard: the unbounded input took minutes
}

// generation() paired every overlapping mapping with every other; symbolizing
// scanned all of a process's mappings for every frame.
TEST(Hostile, ManyOverlappingMappingsSymbolizeInBoundedTime) {
  std::string path = capture("overlap.ebt", [](CaptureWriter& w) {
    for (uint32_t i = 0; i < 30000; ++i)
      w.add(Mapping{42, 0x400000 + uint64_t(i) * 16, 0x400000 + uint64_t(i) * 16 + 0x100000, 0,
                    "/o" + std::to_string(i), {}, kT0 + i});
    for (uint32_t s = 1; s <= 2000; ++s) {
      Stack st{s, {}};
      for (uint32_t f = 0; f < 20; ++f) st.frames.push_back({0x400000 + uint64_t(s) * 64 + f * 4, FrameKind::kUser});
      w.add(st);
      w.add(CpuSample{kT0 + s * 1000, 42, 42, 0, s});
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  CliRun run = ebtrace({"report", path, "--folded", "--no-debuginfod"}, 180);
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_LT(seconds_since(t0), 120.0);  // a hang guard (sanitizer builds, loaded CI)
  EXPECT_NE(run.out.find("[o"), std::string::npos);
}

// ---- fuzzer findings -----------------------------------------------------------

// Every input under tests/fuzz/regressions/ once crashed or hung a target; each
// must now go through info, dump and every report family with exit 0 or 2.
TEST(Hostile, FuzzerFindingsStayFixed) {
  std::string dir = std::string(EBT_FUZZ_DIR) + "/regressions";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  std::vector<std::string> files;
  while (auto* e = readdir(d))
    if (e->d_name[0] != '.') files.push_back(dir + "/" + e->d_name);
  closedir(d);
  ASSERT_FALSE(files.empty());
  std::string out = temp_dir() + "/regression-out";
  for (const auto& f : files) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"info", f},
                                               {"dump", f},
                                               {"report", f},
                                               {"report", f, "--flamegraph", out},
                                               {"report", f, "--trace", out, "--latency"},
                                               {"report", f, "--trace", out, "--trace-max-size", "4K"},
                                               {"report", f, "--off-cpu", "--folded"},
                                               {"report", f, "--skb"},
                                               {"report", f, "--sched"},
                                               {"report", f, "--tcp"}}) {
      CliRun run = ebtrace(args);
      EXPECT_TRUE(run.status == 0 || run.status == 2)
          << f << " " << args[0] << (args.size() > 2 ? " " + args[2] : "") << ": status " << run.status << "\n"
          << run.err.substr(0, 2000);
    }
  }
}

}  // namespace
}  // namespace ebt::fuzz
