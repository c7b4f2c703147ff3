#include "report/trace_json.h"

#include <gtest/gtest.h>

#include "tests/offcpu/mini_json.h"

namespace ebt::report {
namespace {

using test::Json;
using test::JsonParser;

const Json* find_event(const Json& doc, std::string_view ph, std::string_view name) {
  for (const auto& e : doc["traceEvents"].arr)
    if (e["ph"].str == ph && e["name"].str == name) return &e;
  return nullptr;
}

TEST(TraceJson, EmptyDocumentIsValid) {
  TraceJson t;
  Json doc = JsonParser::parse(t.str());
  EXPECT_EQ(test::check_trace_events(doc), "");
  EXPECT_TRUE(doc["traceEvents"].arr.empty());
  EXPECT_EQ(doc["displayTimeUnit"].str, "ns");
}

TEST(TraceJson, SlicesInstantsMetadataAndExactMicroseconds) {
  TraceJson t(1'000'000'000);
  t.set_process_name(10, "blocker");
  t.set_thread_name(10, 11, "sleeper");
  t.set_thread_sort_index(10, 11, 3);
  t.set_other("wall_clock_start", "2026-11-22T13:00:00.000000000Z");
  // 1.5 ms after the origin, lasting 2.000001 ms
  t.slice(10, 11, 1'001'500'000, 2'000'001, "off-CPU S", "offcpu",
          {{"state", std::string("S")}, {"frames", std::vector<std::string>{"a", "b"}},
           {"n", uint64_t{7}}, {"neg", int64_t{-2}}, {"ok", true}, {"ratio", 0.25}});
  t.instant(10, 11, 1'000'000'999, "sample", "oncpu");
  Json doc = JsonParser::parse(t.str());
  ASSERT_EQ(test::check_trace_events(doc), "");

  const Json* x = find_event(doc, "X", "off-CPU S");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->operator[]("ts").raw_number, "1500.000");
  EXPECT_EQ(x->operator[]("dur").raw_number, "2000.001");
  EXPECT_EQ((*x)["pid"].num, 10);
  EXPECT_EQ((*x)["tid"].num, 11);
  EXPECT_EQ((*x)["cat"].str, "offcpu");
  EXPECT_EQ((*x)["args"]["state"].str, "S");
  ASSERT_EQ((*x)["args"]["frames"].arr.size(), 2u);
  EXPECT_EQ((*x)["args"]["frames"].arr[1].str, "b");
  EXPECT_EQ((*x)["args"]["n"].raw_number, "7");
  EXPECT_EQ((*x)["args"]["neg"].raw_number, "-2");
  EXPECT_TRUE((*x)["args"]["ok"].b);
  EXPECT_DOUBLE_EQ((*x)["args"]["ratio"].num, 0.25);

  const Json* i = find_event(doc, "i", "sample");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ((*i)["ts"].raw_number, "0.999");
  EXPECT_EQ((*i)["s"].str, "t");

  const Json* pn = find_event(doc, "M", "process_name");
  ASSERT_NE(pn, nullptr);
  EXPECT_EQ((*pn)["args"]["name"].str, "blocker");
  const Json* tn = find_event(doc, "M", "thread_name");
  ASSERT_NE(tn, nullptr);
  EXPECT_EQ((*tn)["tid"].num, 11);
  EXPECT_EQ((*tn)["args"]["name"].str, "sleeper");
  const Json* ts = find_event(doc, "M", "thread_sort_index");
  ASSERT_NE(ts, nullptr);
  EXPECT_EQ((*ts)["args"]["sort_index"].num, 3);
  EXPECT_EQ(doc["otherData"]["wall_clock_start"].str, "2026-11-22T13:00:00.000000000Z");
}

TEST(TraceJson, EventsSortedByTimeAfterMetadata) {
  TraceJson t(100);
  t.instant(1, 1, 300, "c", "x");
  t.instant(1, 1, 200, "b", "x");
  t.set_thread_name(1, 1, "t");
  t.instant(1, 1, 50, "a", "x");  // before the origin: negative, still valid
  Json doc = JsonParser::parse(t.str());
  ASSERT_EQ(test::check_trace_events(doc), "");
  const auto& evs = doc["traceEvents"].arr;
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0]["ph"].str, "M");
  EXPECT_EQ(evs[1]["name"].str, "a");
  EXPECT_EQ(evs[1]["ts"].raw_number, "-0.050");
  EXPECT_EQ(evs[2]["name"].str, "b");
  EXPECT_EQ(evs[3]["name"].str, "c");
}

TEST(TraceJson, FlowsHaveMatchingIdsAndBindToEnclosingSlice) {
  TraceJson t;
  t.slice(1, 2, 1000, 5000, "wakeup", "offcpu");
  t.slice(1, 3, 0, 9000, "off-CPU S", "offcpu");
  uint64_t a = t.flow(1, 2, 1000, 1, 3, 1000, "wakeup", "offcpu");
  uint64_t b = t.flow(1, 2, 2000, 1, 3, 2000, "wakeup", "offcpu");
  EXPECT_NE(a, b);
  Json doc = JsonParser::parse(t.str());
  ASSERT_EQ(test::check_trace_events(doc), "");
  int s = 0, f = 0;
  for (const auto& e : doc["traceEvents"].arr) {
    if (e["ph"].str == "s") {
      s++;
      EXPECT_EQ(e["tid"].num, 2);
    }
    if (e["ph"].str == "f") {
      f++;
      EXPECT_EQ(e["tid"].num, 3);
      EXPECT_EQ(e["bp"].str, "e");
    }
  }
  EXPECT_EQ(s, 2);
  EXPECT_EQ(f, 2);
}

TEST(TraceJson, CheckerCatchesBrokenFlowsAndMissingFields) {
  // The checker itself must be able to fail, or the tests above prove nothing.
  Json bad1 = JsonParser::parse(
      R"({"traceEvents":[{"name":"a","ph":"s","id":1,"ts":0,"pid":1,"tid":1}]})");
  EXPECT_NE(test::check_trace_events(bad1), "");
  Json bad2 = JsonParser::parse(R"({"traceEvents":[{"name":"a","ph":"X","ts":0,"pid":1,"tid":1}]})");
  EXPECT_NE(test::check_trace_events(bad2), "");
  Json bad3 = JsonParser::parse(R"({"traceEvents":[{"name":"a","ph":"i","pid":1,"tid":1}]})");
  EXPECT_NE(test::check_trace_events(bad3), "");
  EXPECT_THROW(JsonParser::parse("{\"a\":1,}"), std::runtime_error);
  EXPECT_THROW(JsonParser::parse("{\"a\":\"\xff\"}"), std::runtime_error);
}

TEST(TraceJson, QuotesHostileNames) {
  std::string nasty = "a\"b\\c\nd\x01" "e\xff\xfe" "f\xc3\xa9g" "\xe2\x82";  // invalid UTF-8 mixed in
  TraceJson t;
  t.set_thread_name(1, 1, nasty);
  t.slice(1, 1, 0, 1, nasty, nasty, {{nasty, nasty}});
  Json doc = JsonParser::parse(t.str());
  ASSERT_EQ(test::check_trace_events(doc), "");
  const Json* x = find_event(doc, "X", "a\"b\\c\nd\x01" "e\xef\xbf\xbd\xef\xbf\xbd" "f\xc3\xa9g\xef\xbf\xbd\xef\xbf\xbd");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(json_quote("\xc3\xa9"), "\"\xc3\xa9\"");
  EXPECT_EQ(json_quote("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
}

TEST(TraceJson, DeterministicOutput) {
  auto build = [] {
    TraceJson t(5);
    t.set_thread_name(2, 3, "x");
    t.set_process_name(2, "p");
    t.slice(2, 3, 10, 20, "s", "c");
    t.instant(2, 3, 10, "i", "c");
    t.counter(2, 15, "runnable", 3);
    t.flow(2, 3, 12, 2, 3, 13, "w", "c");
    return t.str();
  };
  EXPECT_EQ(build(), build());
}

}  // namespace
}  // namespace ebt::report
