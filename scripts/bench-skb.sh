#!/usr/bin/env bash
# --skb cost per packet, side by side in one run: a UDP sender in one network
# namespace floods a receiver in another through a veth pair (both made here,
# removed at the end; nothing leaves them). Configurations, interleaved per round:
#   untraced | ebtrace record --skb (every packet) |
#   ebtrace record --skb --skb-port <other> (filters reject every packet: the
#   cost of looking) | bpftrace counting the same tracepoints (a floor: attach +
#   a map update per hop, no event out).
# Prints a Markdown table (for docs/benchmarks.md): sender packets/s (median),
# ratio to untraced, and for ebtrace the hops it recorded and lost.
#
# usage: sudo scripts/bench-skb.sh [BUILD_DIR] [ROUNDS=5] [PACKETS=200000]
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"
build=${1:-build}
rounds=${2:-5}
packets=${3:-200000}
ebtrace=$(realpath "$build/cli/ebtrace")
[[ -x $ebtrace ]] || { echo "bench-skb: $ebtrace not built" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench-skb: needs root" >&2; exit 2; }
have_bpftrace=$(command -v bpftrace || true)

tag=ebtb$$
a=${tag}a b=${tag}b
work=$(mktemp -d /tmp/ebt-bench-skb-XXXXXX)
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add "${tag}va" netns "$a" type veth peer name "${tag}vb" netns "$b"
ip -n "$a" addr add 10.199.0.1/24 dev "${tag}va"; ip -n "$b" addr add 10.199.0.2/24 dev "${tag}vb"
ip -n "$a" link set "${tag}va" up; ip -n "$b" link set "${tag}vb" up
ip -n "$a" link set lo up; ip -n "$b" link set lo up

cat >"$work/recv.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("10.199.0.2", 7001)); s.settimeout(2)
try:
    while True: s.recv(2048)
except Exception: pass
PY
cat >"$work/send.py" <<'PY'
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("10.199.0.2", 7001))
msg = b"x" * 64
t = time.perf_counter()
for _ in range(n): s.send(msg)
print(n / (time.perf_counter() - t))
PY
ip netns exec "$a" python3 "$work/send.py" 1000 >/dev/null 2>&1 || true  # ARP, caches (refused: nobody listens yet)

send() {  # prints packets/s
  ip netns exec "$b" python3 "$work/recv.py" & local r=$!
  sleep 0.2
  ip netns exec "$a" python3 "$work/send.py" "$packets"
  wait $r
}
start_ebtrace() {
  rm -f "$work/ready"
  "$ebtrace" record -o "$work/s.ebt" --ready-file "$work/ready" "$@" >/dev/null 2>"$work/ebt.err" &
  ebt=$!
  for ((i = 0; i < 400; i++)); do [[ -e $work/ready ]] && break; sleep 0.05; done
}
stop_ebtrace() {  # config
  kill -INT "$ebt"; wait "$ebt" || true
  tail -1 "$work/ebt.err" >"$work/summary.$1"
  echo "  $(cat "$work/summary.$1")" >&2
}

run_untraced() { send; }
run_skb() { start_ebtrace --skb; send; stop_ebtrace skb; }
run_skb_miss() { start_ebtrace --skb --skb-port 9; send; stop_ebtrace skb_miss; }
run_bpftrace() {
  "$have_bpftrace" -e 'tracepoint:net:net_dev_queue, tracepoint:net:net_dev_start_xmit, tracepoint:net:net_dev_xmit,
tracepoint:net:netif_rx, tracepoint:net:netif_receive_skb, tracepoint:skb:consume_skb, tracepoint:skb:kfree_skb
{ @[probe] = count(); }' >"$work/bt.out" 2>&1 &
  local bt=$!
  for ((i = 0; i < 400; i++)); do grep -q Attaching "$work/bt.out" 2>/dev/null && break; sleep 0.05; done
  send
  kill -INT $bt; wait $bt || true
}

configs=(untraced skb skb_miss)
[[ -n $have_bpftrace ]] && configs+=(bpftrace)
bench_rate_rounds "$rounds" packets "${configs[@]}"
echo
for c in skb skb_miss; do echo "last $c recording: $(cat "$work/summary.$c")"; done
echo "rounds: $rounds, $packets UDP datagrams of 64 B per run over veth between two namespaces; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
