// nginx as a reverse proxy in its own network namespace, in front of an
// HTTP/1.1 keep-alive upstream (Python) in the same namespace, driven by a
// client in another namespace over a veth pair. Recorded with --tcp --l7 -p
// NGINX: the connections on both of nginx's sides are attributed to nginx,
// and the upstream keep-alive is ONE long connection carrying every request,
// --otlp links every forwarded request to, each a child of the request
// nginx received (the proxy hop).
#include "tests/bpf_guard.h"
#include "tests/tcp/otlp_check.h"
#include "tests/tcp/tcp_harness.h"

namespace ebt::test {
namespace {

const char* kUpstream = R"(
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = b'up\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 8081), H)
open(sys.argv[1], 'w').close()
s.serve_forever()
)";

const char* kClient = R"(
import http.client, sys
for i in range(5):
    c = http.client.HTTPConnection(sys.argv[1], 8080, timeout=10)
    c.request('GET', '/p%d' % i, headers={'Connection': 'close'})
    r = c.getresponse()
    assert r.status == 200 and r.read() == b'up\n', r.status
    c.close()
print('ok')
)";

uint64_t num(const Json& j, const char* k) { return uint64_t(j[k].num); }

TEST(TcpNginx, ProxyBothSidesOwnedByNginxUpstreamKeepAliveIsOneConnection) {
  EBT_REQUIRE_BPF_OR_SKIP();
  if (run({"sh", "-c", "command -v nginx"}, timeout(10)).exit_code != 0) {
    if (bpf_required()) FAIL() << "nginx not installed (scripts/setup-deps.sh --with-tests)";
    GTEST_SKIP() << "nginx not installed";
  }
  VethPair net;
  TempDir dir("ebt-tcp-nginx");
  std::string d = dir.path().string();
  write_text(dir / "nginx.conf",
             "daemon off;\nmaster_process off;\nworker_processes 1;\n"
             "error_log " + d + "/error.log;\npid " + d + "/nginx.pid;\n"
             "events { worker_connections 64; }\n"
             "http {\n  access_log off;\n  server_tokens off;\n  sendfile off;\n"
             "  client_body_temp_path " + d + "/body;\n  proxy_temp_path " + d + "/proxy;\n"
             "  fastcgi_temp_path " + d + "/fastcgi;\n  uwsgi_temp_path " + d + "/uwsgi;\n"
             "  scgi_temp_path " + d + "/scgi;\n"
             "  upstream up { server 127.0.0.1:8081; keepalive 4; }\n"
             "  server {\n    listen " + net.addr_b() + ":8080;\n"
             "    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }\n"
             "  }\n}\n");
  Proc upstream(net.in(net.ns_b(), {"python3", "-c", kUpstream, (dir / "up.ready").string()}), timeout(120));
  wait_for_file(dir / "up.ready", 30);
  ASSERT_TRUE(fs::exists(dir / "up.ready")) << upstream.wait(1).describe();
  Proc nginx(net.in(net.ns_b(), {"nginx", "-p", d, "-c", (dir / "nginx.conf").string()}), timeout(120));
  wait_for_file(dir / "nginx.pid", 30);
  ASSERT_TRUE(fs::exists(dir / "nginx.pid")) << nginx.wait(1).describe() << read_text(dir / "error.log");

  TcpRecording rec(dir, {"--tcp", "--l7", "-p", std::to_string(nginx.pid())});
  ASSERT_TRUE(rec.ready()) << rec.why_not_ready();
  RunResult c = run(net.in(net.ns_a(), {"python3", "-c", kClient, net.addr_b()}), timeout(60));
  ASSERT_EQ(c.exit_code, 0) << c.describe() << read_text(dir / "error.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last closes
  rec.stop();

  const uint32_t pid = uint32_t(nginx.pid());
  std::string text = rec.report_text();
  SCOPED_TRACE(text);
  Json r = rec.report_json();
  ASSERT_EQ(r["connections"].arr.size(), 6u);
  int inbound = 0, upstream_conns = 0;
  for (const auto& conn : r["connections"].arr) {
    EXPECT_EQ(num(conn, "pid"), pid);
    EXPECT_EQ(conn["comm"].str, "nginx");
    if (conn["role"].str == "server") {
      inbound++;
      EXPECT_EQ(num(conn, "local_port"), 8080u);
      EXPECT_EQ(conn["outcome"].str, "closed");
      EXPECT_FALSE(conn["open_before"].b);
    } else {
      upstream_conns++;
      EXPECT_EQ(conn["role"].str, "client");
      EXPECT_EQ(num(conn, "remote_port"), 8081u);
      EXPECT_TRUE(conn["open_at_end"].b) << "nginx keeps its upstream connection";
      EXPECT_GT(num(conn, "handshake_ns"), 0u);
    }
  }
  EXPECT_EQ(inbound, 5);
  EXPECT_EQ(upstream_conns, 1);

  fs::path otlp = dir / "spans.json";
  RunResult o = run({ebtrace_bin(), "report", rec.capture().string(), "--otlp", otlp.string()}, timeout(60));
  ASSERT_EQ(o.exit_code, 0) << o.describe();
  OtlpDoc doc = parse_otlp_strict(read_text(otlp));
  ASSERT_EQ(doc.error, "");
  EXPECT_EQ(check_span_tree(doc), "");
  EXPECT_EQ(doc.resources, 1u);  // nginx
  // The request nginx forwarded upstream is a child of the request it received
  // (the proxy hop), and links to the one upstream connection that carried it.
  std::map<std::string, const OtlpSpan*> by_id;
  for (const auto& s : doc.spans) by_id[s.span_id] = &s;
  std::string upstream_span;
  int accepts = 0;
  for (const auto& s : doc.spans) {
    EXPECT_EQ(s.service, "nginx");
    if (s.name == "TCP connect 127.0.0.1:8081") upstream_span = s.span_id;
    if (s.name.rfind("TCP accept", 0) == 0) accepts++;
  }
  EXPECT_EQ(accepts, 5);
  ASSERT_FALSE(upstream_span.empty()) << read_text(otlp);
  int received = 0, forwarded = 0;
  for (const auto& s : doc.spans) {
    if (s.name.rfind("GET /p", 0) != 0) continue;
    const OtlpSpan* parent = by_id.at(s.parent_id);
    if (parent->name.rfind("TCP accept", 0) == 0) {
      received++;
      EXPECT_EQ(s.kind, 2);  // SERVER
    } else {
      forwarded++;
      EXPECT_EQ(parent->name, s.name) << "forwarded under the request it received";
      EXPECT_EQ(s.kind, 3);  // CLIENT
      ASSERT_EQ(s.links.size(), 1u);
      EXPECT_EQ(s.links[0].second, upstream_span) << "carried by the one keep-alive connection";
    }
  }
  EXPECT_EQ(received, 5);
  EXPECT_EQ(forwarded, 5);
}

}  // namespace
}  // namespace ebt::test
