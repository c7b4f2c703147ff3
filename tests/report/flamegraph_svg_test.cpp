// The SVG flame graph: well-formed XML (parsed by python3's xml.etree), frame
// widths proportional to the folded counts, colours by frame type, determinism.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "report/aggregate.h"
#include "report/flamegraph_svg.h"
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

std::string render(Profile& p, const StackAggregate& agg) {
  FlameGraphOptions o;
  o.title = "CPU <test> & \"quotes\"";
  o.subtitle = flamegraph_subtitle(p, agg);
  std::ostringstream out;
  write_flamegraph_svg(p, agg, o, out);
  return out.str();
}

struct SvgFrame {
  std::string name, type, fill;
  uint64_t value = 0;
  double x = 0, y = 0, width = 0;
};

// Parses with python3's XML parser (independent of the writer) and lists frames.
std::vector<SvgFrame> parse_svg(const std::string& svg, std::string* error) {
  char path[] = "/tmp/ebt-svgtest-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return {};
  FILE* f = fdopen(fd, "w");
  fwrite(svg.data(), 1, svg.size(), f);
  fclose(f);
  std::string cmd = std::string("python3 -c '\n"
      "import sys, xml.etree.ElementTree as ET\n"
      "ns = \"{http://www.w3.org/2000/svg}\"\n"
      "root = ET.parse(sys.argv[1]).getroot()\n"
      "assert root.tag == ns + \"svg\", root.tag\n"
      "for g in root.iter(ns + \"g\"):\n"
      "    if g.get(\"class\") != \"f\": continue\n"
      "    r = g.find(ns + \"rect\")\n"
      "    print(\"\\t\".join([g.get(\"data-n\"), g.get(\"data-t\"), g.get(\"data-v\"), r.get(\"x\"), r.get(\"y\"), r.get(\"width\"), r.get(\"fill\")]))\n"
      "' ") + path + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  unlink(path);
  if (status != 0) {
    *error = out;
    return {};
  }
  std::vector<SvgFrame> frames;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> t;
    std::istringstream ls(line);
    for (std::string field; std::getline(ls, field, '\t');) t.push_back(field);
    if (t.size() != 7) {
      *error = "bad line: " + line;
      return {};
    }
    frames.push_back({t[0], t[1], t[6], std::stoull(t[2]), std::stod(t[3]), std::stod(t[4]), std::stod(t[5])});
  }
  return frames;
}

TEST(FlameGraphSvg, WellFormedWithWidthsMatchingFoldedCounts) {
  auto p = load_synthetic();
  auto agg = aggregate(*p, p->samples, {});
  std::string svg = render(*p, agg);
  std::string error;
  auto frames = parse_svg(svg, &error);
  ASSERT_TRUE(error.empty()) << error;
  // Expected weight of every frame path from the folded lines.
  std::map<std::string, uint64_t> by_name;
  for (const auto& [line, w] : folded_lines(*p, agg)) {
    std::istringstream ls(line);
    for (std::string part; std::getline(ls, part, ';');) by_name[part] += w;
  }
  by_name["all"] = 100;
  by_name["main"] = 100;  // under three different comm frames: 60 + 30 + 10
  std::map<std::string, uint64_t> seen;
  const double chart_w = 1200 - 20;
  for (const auto& f : frames) {
    seen[f.name] += f.value;
    EXPECT_NEAR(f.width, chart_w * static_cast<double>(f.value) / 100.0, 0.01) << f.name;
  }
  for (const auto& [name, w] : by_name) EXPECT_EQ(seen[name], w) << name;
  EXPECT_EQ(seen.size(), by_name.size());
  EXPECT_EQ(seen["work::hot()"], 60u);
  EXPECT_EQ(seen["ksys_write_[k]"], 10u);
  // Title and subtitle are escaped and carry host and sample count.
  EXPECT_NE(svg.find("CPU &lt;test&gt; &amp; &quot;quotes&quot;"), std::string::npos);
  EXPECT_NE(svg.find("host testhost"), std::string::npos);
  EXPECT_NE(svg.find("100 samples"), std::string::npos);
  EXPECT_NE(svg.find("7 lost"), std::string::npos);
}

TEST(FlameGraphSvg, ChildrenSitInsideTheirParents) {
  auto p = load_synthetic();
  auto agg = aggregate(*p, p->samples, {});
  std::string error;
  auto frames = parse_svg(render(*p, agg), &error);
  ASSERT_TRUE(error.empty()) << error;
  for (const auto& f : frames) {
    if (f.name == "all") continue;
    bool has_parent = false;
    for (const auto& q : frames) {
      if (q.y == f.y + 16 && q.x <= f.x + 1e-6 && q.x + q.width >= f.x + f.width - 1e-6) has_parent = true;
    }
    EXPECT_TRUE(has_parent) << f.name;
  }
}

TEST(FlameGraphSvg, ColoursByTypeAndName) {
  auto p = load_synthetic();
  auto agg = aggregate(*p, p->samples, {});
  std::string error;
  auto frames = parse_svg(render(*p, agg), &error);
  ASSERT_TRUE(error.empty()) << error;
  for (const auto& f : frames) {
    if (f.name.find("_[k]") != std::string::npos) {
      EXPECT_EQ(f.type, "kernel");
      EXPECT_EQ(f.fill, frame_color(f.name.substr(0, f.name.size() - 4), FrameType::kKernel));
    }
    if (f.name == "work::hot()") {
      EXPECT_EQ(f.type, "user");
      EXPECT_EQ(f.fill, frame_color("work::hot()", FrameType::kUser));
    }
    if (f.name == "burner") {
      EXPECT_EQ(f.type, "process");
    }
  }
  // Same name, different type: different colour; same input: same colour.
  EXPECT_NE(frame_color("f", FrameType::kUser), frame_color("f", FrameType::kKernel));
  EXPECT_NE(frame_color("f", FrameType::kUser), frame_color("f", FrameType::kInline));
  EXPECT_NE(frame_color("f", FrameType::kLua), frame_color("f", FrameType::kJit));
  EXPECT_EQ(frame_color("f", FrameType::kUser), frame_color("f", FrameType::kUser));
}

TEST(FlameGraphSvg, DeterministicAcrossRenders) {
  auto p1 = load_synthetic();
  auto p2 = load_synthetic();
  std::string a = render(*p1, aggregate(*p1, p1->samples, {}));
  std::string b = render(*p2, aggregate(*p2, p2->samples, {}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, render(*p1, aggregate(*p1, p1->samples, {})));
  if (const char* keep = std::getenv("EBT_KEEP_SVG")) std::ofstream(keep) << a;
}

TEST(FlameGraphSvg, EmptyProfileIsStillValid) {
  auto p = load_synthetic();
  Filter f;
  f.pids = {12345};
  std::string error;
  auto frames = parse_svg(render(*p, aggregate(*p, p->samples, f)), &error);
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_TRUE(frames.empty());
}

}  // namespace
}  // namespace ebt::report
