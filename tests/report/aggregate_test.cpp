// Stack aggregation, filters and folded output on a synthetic capture.
#include <gtest/gtest.h>

#include <sstream>

#include "common/error.h"
#include "report/aggregate.h"
#include "report/folded.h"
#include "tests/report/profile_fixture.h"
#include "tests/report/test_capture.h"

namespace ebt::report {
namespace {

symbolize::SymbolizerOptions offline() {
  symbolize::SymbolizerOptions o;
  o.local_files = false;
  o.debug_dirs.clear();
  return o;
}

std::unique_ptr<Profile> load_synthetic() {
  auto c = test::make_synthetic_capture();
  auto p = std::make_unique<Profile>(offline());
  p->session = c.session;
  ProfileBuilder b(*p);
  c.replay([&](const auto& r) { b.on(r); });
  return p;
}

std::string folded(Profile& p, const Filter& f = {}) {
  std::ostringstream out;
  write_folded(p, aggregate(p, p.samples, f), out);
  return out.str();
}

TEST(Aggregate, FoldedIsSortedRootFirstWithKernelSuffix) {
  auto p = load_synthetic();
  EXPECT_EQ(folded(*p),
            "burner;main;work::hot() 60\n"
            "other;main;helper;do_syscall_64_[k];ksys_write_[k] 10\n"
            "worker;main;cold 30\n");
  auto agg = aggregate(*p, p->samples, {});
  EXPECT_EQ(agg.total_weight, 100u);
  EXPECT_EQ(agg.total_count, 100u);
  EXPECT_EQ(p->lost, 7u);
}

TEST(Aggregate, EachDistinctStackIsSymbolizedOnce) {
  auto p = load_synthetic();
  // 100 samples, 3 stacks: the frame table holds 3 comms + 6 distinct frames + reserved 0.
  aggregate(*p, p->samples, {});
  EXPECT_EQ(p->frames.size(), 1u + 3u + 6u);
}

TEST(Aggregate, PidTidCommFilters) {
  auto p = load_synthetic();
  Filter f;
  f.pids = {100};
  EXPECT_EQ(folded(*p, f), "burner;main;work::hot() 60\nworker;main;cold 30\n");
  f = {};
  f.tids = {101, 200};
  EXPECT_EQ(folded(*p, f),
            "other;main;helper;do_syscall_64_[k];ksys_write_[k] 10\nworker;main;cold 30\n");
  f = {};
  f.comms = {"other"};
  EXPECT_EQ(folded(*p, f), "other;main;helper;do_syscall_64_[k];ksys_write_[k] 10\n");
  // The process comm matches all of its threads.
  f.comms = {"burner"};
  EXPECT_EQ(folded(*p, f), "burner;main;work::hot() 60\nworker;main;cold 30\n");
  f = {};
  f.pids = {999};
  EXPECT_EQ(folded(*p, f), "");
}

TEST(Aggregate, TimeFilterRelativeToCaptureStart) {
  auto p = load_synthetic();
  Filter f;
  parse_time_range("0.5,1.1", f);
  // 0.50..0.59 (10 samples) and 1.00..1.10 inclusive (11 samples).
  EXPECT_EQ(folded(*p, f), "burner;main;work::hot() 10\nworker;main;cold 11\n");
  f = {};
  parse_time_range("2,", f);
  EXPECT_EQ(folded(*p, f), "other;main;helper;do_syscall_64_[k];ksys_write_[k] 10\n");
  f = {};
  parse_time_range(",0.095", f);
  EXPECT_EQ(folded(*p, f), "burner;main;work::hot() 10\n");
  EXPECT_THROW(parse_time_range("abc", f), BadInput);
  EXPECT_THROW(parse_time_range("1,x", f), BadInput);
  EXPECT_THROW(parse_time_range("2,1", f), BadInput);
  EXPECT_THROW(parse_time_range("-1,2", f), BadInput);
}

TEST(Aggregate, NoKernelDropsKernelFrames) {
  auto p = load_synthetic();
  Filter f;
  f.no_kernel = true;
  f.comms = {"other"};
  EXPECT_EQ(folded(*p, f), "other;main;helper 10\n");
}

TEST(Aggregate, IdListParsing) {
  EXPECT_EQ(parse_id_list("1,22,3", "--pid"), (std::set<uint32_t>{1, 3, 22}));
  EXPECT_THROW(parse_id_list("1,x", "--pid"), BadInput);
  EXPECT_THROW(parse_id_list("", "--pid"), BadInput);
  EXPECT_EQ(parse_name_list("a,b,,c"), (std::set<std::string>{"a", "b", "c"}));
}

TEST(Aggregate, UnknownStackIdAndNamesWithSemicolons) {
  auto p = load_synthetic();
  p->samples.push_back({test::kStart, 100, 100, 0, 77});
  symbolize::SymFrame odd{"operator;weird", "m", "", 0, FrameType::kUser, true};
  FrameInfo info{odd.name, odd.module, "", odd.type, true};
  EXPECT_EQ(folded_name(info), "operator:weird");
  Filter f;
  f.tids = {100};
  EXPECT_EQ(folded(*p, f), "burner;[unknown stack] 1\nburner;main;work::hot() 60\n");
}

TEST(Aggregate, WeightsAndMarkersAreGeneric) {
  auto p = load_synthetic();
  uint32_t marker = p->frames.intern("[off-cpu: S]", FrameType::kMarker);
  std::vector<Sample> events = {{test::kStart, 100, 100, 0, 1, 5000, marker, 0},
                                {test::kStart + 1, 100, 100, 0, 1, 2500, marker, 0}};
  auto agg = aggregate(*p, events, {});
  EXPECT_EQ(agg.total_weight, 7500u);
  EXPECT_EQ(agg.total_count, 2u);
  std::ostringstream out;
  write_folded(*p, agg, out);
  EXPECT_EQ(out.str(), "burner;main;work::hot();[off-cpu: S] 7500\n");
}

TEST(Aggregate, InlineFramesFromTheCaptureAndNoInline) {
  auto c = test::make_synthetic_capture();
  // work::hot() at 0x1110 has `square` inlined into it.
  c.table.locations.push_back({0x110f, {{"_ZN4work6squareEl", "hot.h", 3}, {"_ZN4work3hotEv", "hot.cpp", 9}}});
  c.table.locations.push_back({0x1110, {{"_ZN4work6squareEl", "hot.h", 3}, {"_ZN4work3hotEv", "hot.cpp", 9}}});
  for (bool no_inline : {false, true}) {
    symbolize::SymbolizerOptions o = offline();
    o.inline_frames = !no_inline;
    Profile p(o);
    p.session = c.session;
    ProfileBuilder b(p);
    c.replay([&](const auto& r) { b.on(r); });
    Filter f;
    f.tids = {100};
    f.no_inline = no_inline;
    EXPECT_EQ(folded(p, f), no_inline ? "burner;main;work::hot() 60\n"
                                      : "burner;main;work::hot();work::square(long)_[i] 60\n");
  }
}

}  // namespace
}  // namespace ebt::report
