#!/usr/bin/env bash
# --tcp cost per connection, side by side in one run: a connection storm over
# loopback (each connection: connect, 64 bytes each way, close) from one client
# process to a sequential accept loop. Configurations, interleaved per round:
#   untraced | ebtrace record --tcp --port P (every connection of the storm) |
#   tcplife (libbpf-tools, -L P: one line per connection) |
#   bpftrace counting sock:inet_sock_set_state (a floor: attach + a map update
#   per transition, nothing out).
# Prints a Markdown table (for docs/benchmarks.md): client connections/s
# (median), ratio to untraced, and for ebtrace the connections it recorded and
# what it lost (must be 0 unaccounted: the recorder's summary names any loss).
#
# usage: sudo scripts/bench-tcp.sh [BUILD_DIR] [ROUNDS=5] [CONNECTIONS=20000]
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"
build=${1:-build}
rounds=${2:-5}
conns=${3:-20000}
port=${PORT:-7591}
ebtrace=$(realpath "$build/cli/ebtrace")
[[ -x $ebtrace ]] || { echo "bench-tcp: $ebtrace not built" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench-tcp: needs root" >&2; exit 2; }
have_bpftrace=$(command -v bpftrace || true)
have_tcplife=$(command -v tcplife || ls /usr/sbin/tcplife 2>/dev/null || true)  # Debian: libbpf-tools
[[ -n $have_tcplife ]] || echo "bench-tcp: tcplife (libbpf-tools) not installed: that row is left out" >&2

work=$(mktemp -d /tmp/ebt-bench-tcp-XXXXXX)
cleanup() { [[ -n ${srv:-} ]] && kill "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat >"$work/server.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096)
msg = b"y" * 64
while True:
    c, _ = s.accept()
    c.recv(64); c.sendall(msg); c.close()
PY
cat >"$work/client.py" <<'PY'
import socket, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
msg = b"x" * 64
t = time.perf_counter()
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(msg); s.recv(64); s.close()
print(n / (time.perf_counter() - t))
PY
python3 "$work/server.py" "$port" & srv=$!
sleep 0.3

storm() { python3 "$work/client.py" "$conns" "$port"; }  # prints connections/s
start_ebtrace() {
  rm -f "$work/ready"
  "$ebtrace" record -o "$work/t.ebt" --ready-file "$work/ready" "$@" >/dev/null 2>"$work/ebt.err" &
  ebt=$!
  for ((i = 0; i < 400; i++)); do [[ -e $work/ready ]] && break; sleep 0.05; done
}
stop_ebtrace() {
  kill -INT "$ebt"; wait "$ebt" || true
  tail -1 "$work/ebt.err" >"$work/summary.tcp"
  echo "  $(cat "$work/summary.tcp")" >&2
}
run_untraced() { storm; }
run_tcp() { start_ebtrace --tcp --port "$port"; storm; stop_ebtrace; }
run_tcplife() {
  "$have_tcplife" -L "$port" >"$work/tcplife.out" 2>&1 & local t=$!
  for ((i = 0; i < 100; i++)); do [[ -s $work/tcplife.out ]] && break; sleep 0.05; done  # its header: attached
  storm
  sleep 0.2; kill -INT $t; wait $t || true
  echo "  tcplife lines: $(($(wc -l <"$work/tcplife.out") - 1))" >&2
}
run_bpftrace() {
  "$have_bpftrace" -e 'tracepoint:sock:inet_sock_set_state { @[args->newstate] = count(); }' >"$work/bt.out" 2>&1 &
  local bt=$!
  for ((i = 0; i < 400; i++)); do grep -q Attaching "$work/bt.out" 2>/dev/null && break; sleep 0.05; done
  storm
  kill -INT $bt; wait $bt || true
}

configs=(untraced tcp)
[[ -n $have_tcplife ]] && configs+=(tcplife)
[[ -n $have_bpftrace ]] && configs+=(bpftrace)
bench_rate_rounds "$rounds" connections "${configs[@]}"
echo
echo "last --tcp recording: $(cat "$work/summary.tcp")"
"$ebtrace" report "$work/t.ebt" --tcp --format json | python3 -c '
import json, sys
r = json.load(sys.stdin)
c = r["connections"]
print("last --tcp report: %d connections (%d client, %d server), %d open at the end, lost events: %d" %
      (len(c), r["clients"], r["servers"], r["open_at_end"], r["lost_events"]))'
echo "rounds: $rounds, $conns loopback connections of 64 B each way per run; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
