// report --trace on a TCP capture written here (no BPF): each connection's
// track names its owner's container the way `report --tcp` does (docs/tcp.md).
#include <gtest/gtest.h>

#include <regex>

#include "format/writer.h"
#include "tests/cli/cli_harness.h"
#include "tests/tcp/tcp_capture.h"

namespace ebt::test {
namespace {

constexpr uint64_t T = 2'000'000'000;  // monotonic ns
constexpr uint64_t kUs = 1000, kMs = 1000 * 1000;
const std::string kDockerId = "3f2a0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
const std::string kDockerPath = "/system.slice/docker-" + kDockerId + ".scope";

SessionInfo session() { return tcp_test_session("tracehost"); }

// A client (pid 100, curl) in docker container "web" connects to a server
// (pid 200, nginx) on the host; a third connection's owner is never known.
fs::path write_capture(const TempDir& dir) {
  fs::path path = dir / "tcp.ebt";
  format::CaptureWriter w(path.string(), session());
  CgroupInfo g;
  g.id = 777;
  g.path = kDockerPath;
  g.hierarchy = "v2";
  g.runtime = "docker";
  g.container_id = kDockerId;
  g.name = "web";
  g.hostname = "web-1";
  g.time_ns = T;
  w.add(g);
  w.add(ProcessInfo{100, 1, "curl", "/usr/bin/curl", {"curl"}, 777, kDockerPath, {100, 7}, 0, T});
  w.add(ProcessInfo{200, 1, "nginx", "/usr/sbin/nginx", {"nginx"}, 778, "/system.slice/nginx.service", {200}, 0, T});
  using K = TcpEventType;
  // SYN_SENT, ESTABLISHED, FIN_WAIT1, FIN_WAIT2, CLOSE (Linux TCP_* numbers).
  w.add(tcp_event(T, K::kState, 11, 100, 7, 2, true));
  w.add(tcp_event(T + 50 * kUs, K::kState, 11, 100, 2, 1, true));
  w.add(tcp_event(T + 5 * kMs, K::kState, 11, 100, 1, 4, true));
  w.add(tcp_event(T + 6 * kMs, K::kState, 11, 100, 4, 7, true));
  // The server end: softirq transitions without an owner, then accept().
  w.add(tcp_event(T + 40 * kUs, K::kState, 12, 0, 10, 3, false));
  w.add(tcp_event(T + 60 * kUs, K::kState, 12, 0, 3, 1, false));
  w.add(tcp_event(T + 70 * kUs, K::kAccept, 12, 200, 0, 0, false));
  w.add(tcp_event(T + 5 * kMs + 20 * kUs, K::kState, 12, 200, 1, 8, false));
  w.add(tcp_event(T + 6 * kMs + 10 * kUs, K::kState, 12, 200, 8, 7, false));
  // Never accepted: no owner.
  TcpEvent orphan = tcp_event(T + 8 * kMs, K::kState, 13, 0, 10, 3, false);
  orphan.remote_port = 40001;
  w.add(orphan);
  SessionEnd end;
  end.end_ns = T + 20 * kMs;
  w.finish(end);
  return path;
}

// The "thread_name" of each track of the "TCP connections" process, in order.
std::vector<std::string> tcp_track_names(const std::string& json) {
  std::vector<std::string> names;
  std::regex re("\"name\":\"thread_name\",\"ph\":\"M\",\"ts\":0,\"pid\":2147418113,\"tid\":[0-9]+,\"args\":\\{\"name\":\"([^\"]*)\"\\}");
  for (std::sregex_iterator it(json.begin(), json.end(), re), end; it != end; ++it) names.push_back((*it)[1]);
  return names;
}

TEST(TcpTrace, ConnectionTracksNameTheirOwnersContainer) {
  TempDir dir("ebt-tcp-trace");
  fs::path cap = write_capture(dir);
  fs::path out = dir / "trace.json";
  RunResult r = run({ebtrace_bin(), "report", cap.string(), "--trace", out.string()}, timeout(60));
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  std::string json = read_text(out);
  std::vector<std::string> expected{
      "100 curl (container web): 10.0.0.1:40000 > 10.0.0.2:80",
      "200 nginx: 10.0.0.2:80 > 10.0.0.1:40000",        // a host process: no container
      "? (owner unknown): 10.0.0.2:80 > 10.0.0.1:40001",
  };
  EXPECT_EQ(tcp_track_names(json), expected) << json;
  // The established slice of the container's connection carries its identity.
  EXPECT_NE(json.find("\"container\":\"web\",\"container_id\":\"" + kDockerId + "\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"container\":\"[host]\""), std::string::npos) << json;

  // The same names as the connection table's CONTAINER column.
  RunResult t = run({ebtrace_bin(), "report", cap.string(), "--tcp", "--format", "csv"}, timeout(60));
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  EXPECT_NE(t.out.find("100,curl,web," + kDockerId + ",client"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("200,nginx,[host],,server"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace ebt::test
