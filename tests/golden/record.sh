#!/usr/bin/env bash
# Records the golden captures (root, real BPF). Run only to replace a capture on
# purpose (a new record kind, a changed recorder); then run regenerate.sh and
# review every changed expected output.
#
#   sudo tests/golden/record.sh BUILD_DIR [NAME...]     # NAME: oncpu_fp dwarf ...
#
# Every workload is short and pid-filtered, so a capture stays well under 200 KB.
# The sample binaries run from a temporary copy that is deleted afterwards: the
# objects named in a capture exist on no machine, so reports use the symbols
# embedded in the capture (and --embedded-symbols-only makes sure of it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: record.sh BUILD_DIR [NAME...]}")
shift
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(oncpu_fp dwarf keep_stack offcpu l7 skb lua tcp sched)
ebtrace=$build/cli/ebtrace
[[ $(id -u) == 0 ]] || { echo "record.sh: needs root (BPF)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/ebt-golden-XXXXXX)
pids=()
netns=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/bin"
cp "$build/samples/cpuburn/cpuburn" "$build/samples/cpuburn/libburn_plugin.so" "$build/samples/blocker/blocker" "$tmp/bin/"

wait_file() { for _ in $(seq 500); do [[ -e $1 ]] && return 0; sleep 0.02; done; echo "record.sh: $1 never appeared" >&2; exit 1; }

record_cmd() {  # NAME ARGS... -- COMMAND: records a command it starts
  local name=$1; shift
  (cd "$tmp/bin" && "$ebtrace" record -o "$tmp/$name.ebt" "$@")
  mv "$tmp/$name.ebt" "$here/$name.ebt"
  chmod 0644 "$here/$name.ebt"
}

for name in "${names[@]}"; do
  case $name in
    oncpu_fp)   # on-CPU, frame pointers: user + kernel stacks, an executable and a dlopen()ed library
      record_cmd oncpu_fp -F 499 -- ./cpuburn --duration 1 --plugin-delay-ms 100 ;;
    dwarf)      # --call-graph dwarf: unwound in the recorder
      record_cmd dwarf -F 499 --call-graph dwarf -- ./cpuburn --duration 0.8 --plugin-delay-ms 100 ;;
    keep_stack) # --keep-stack-bytes: raw stacks + unwind tables, unwound by report
      record_cmd keep_stack -F 199 --call-graph dwarf,2048 --keep-stack-bytes -- ./cpuburn --duration 0.5 --plugin-delay-ms 100 ;;
    offcpu)     # off-CPU intervals with waker stacks, plus on-CPU samples
      record_cmd offcpu -F 99 --off-cpu --off-cpu-waker -- ./blocker 40 7000 3000 ;;
    l7)         # --l7 (syscalls with payload bytes) and --off-cpu against redis-server on loopback
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
      rpid=$!; pids+=("$rpid")
      for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
      "$ebtrace" record -o "$tmp/l7.ebt" --ready-file "$tmp/l7.ready" --l7 --off-cpu -F 49 -p "$rpid" &
      rec=$!
      wait_file "$tmp/l7.ready"
      for i in $(seq 20); do redis-cli -p "$port" set "key:$i" "value-$i" >/dev/null; done
      for i in $(seq 20); do redis-cli -p "$port" get "key:$i" >/dev/null; done
      redis-cli -p "$port" incr counter >/dev/null
      redis-cli -p "$port" incr "key:1" >/dev/null || true   # an error reply
      redis-cli -p "$port" nosuchcommand >/dev/null || true
      printf 'PING\r\nPING\r\n' | redis-cli -p "$port" >/dev/null   # inline commands, one connection
      sleep 0.3
      kill -INT "$rec"; wait "$rec"
      kill "$rpid"; wait "$rpid" 2>/dev/null || true
      mv "$tmp/l7.ebt" "$here/l7.ebt"; chmod 0644 "$here/l7.ebt" ;;
    skb)        # --skb in a namespace pair: UDP delivered, UDP to a closed port (NO_SOCKET), a TCP exchange
      tag=ebtg$$
      netns+=("${tag}a" "${tag}b")
      ip netns add "${tag}a"; ip netns add "${tag}b"
      ip link add "${tag}va" netns "${tag}a" type veth peer name "${tag}vb" netns "${tag}b"
      ip -n "${tag}a" addr add 10.231.0.1/24 dev "${tag}va"; ip -n "${tag}b" addr add 10.231.0.2/24 dev "${tag}vb"
      ip -n "${tag}a" link set "${tag}va" up; ip -n "${tag}b" link set "${tag}vb" up
      ip -n "${tag}a" link set lo up; ip -n "${tag}b" link set lo up
      # Resolve the neighbour first, so no datagram waits in the ARP queue.
      ip netns exec "${tag}a" python3 -c 'import socket; socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b"w",("10.231.0.2",9))'
      sleep 0.2
      ip netns exec "${tag}b" python3 -c '
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("10.231.0.2",7001)); s.settimeout(3)
try:
  while True: s.recv(2000); s.settimeout(1)
except Exception: pass' &
      pids+=($!); listener=$!
      ip netns exec "${tag}b" python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("10.231.0.2",7002)); s.listen(1); s.settimeout(5)
c,_=s.accept(); n=0
while True:
  d=c.recv(65536)
  if not d: break
  n+=len(d)
c.sendall(b"ok"); c.close()' &
      pids+=($!); server=$!
      sleep 0.3
      "$ebtrace" record -o "$tmp/skb.ebt" --ready-file "$tmp/skb.ready" --skb --skb-netns "/run/netns/${tag}a" --skb-host 10.231.0.2 --no-cpu &
      rec=$!
      wait_file "$tmp/skb.ready"
      ip netns exec "${tag}a" python3 -c '
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for i in range(5): s.sendto(b"x"*100,("10.231.0.2",7001))
for i in range(3): s.sendto(b"y"*60,("10.231.0.2",7009))
t=socket.create_connection(("10.231.0.2",7002)); t.sendall(b"z"*3000); t.shutdown(socket.SHUT_WR); t.recv(10); t.close()'
      sleep 0.5
      kill -INT "$rec"; wait "$rec"
      wait "$listener" "$server" 2>/dev/null || true
      mv "$tmp/skb.ebt" "$here/skb.ebt"; chmod 0644 "$here/skb.ebt" ;;
    lua)        # --lua: Debian's luajit CLI with -joff running split.lua (VM, protos, Lua stacks, cgroup)
      cp "$here/../../samples/lua/split.lua" "$tmp/bin/"
      record_cmd lua -F 199 --lua -- luajit -joff ./split.lua 0.6 ;;
    tcp)        # --tcp on loopback: 3 connections of 1000 bytes up and 2 down, then one refused (listener closed)
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      python3 -c '
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(8)
for i in range(3):
  c,_=s.accept(); n=0
  while n<1000: n+=len(c.recv(65536))
  c.sendall(b"ok"); c.close()
s.close()' "$port" &
      pids+=($!); server=$!
      sleep 0.3
      "$ebtrace" record -o "$tmp/tcp.ebt" --ready-file "$tmp/tcp.ready" --tcp --port "$port" &
      rec=$!
      wait_file "$tmp/tcp.ready"
      python3 -c '
import socket,sys,time
p=int(sys.argv[1])
for i in range(3):
  c=socket.create_connection(("127.0.0.1",p)); c.sendall(b"x"*1000); c.recv(10); c.close()
time.sleep(0.3)
try: socket.create_connection(("127.0.0.1",p))
except ConnectionRefusedError: pass' "$port"
      wait "$server" 2>/dev/null || true
      sleep 0.3
      kill -INT "$rec"; wait "$rec"
      mv "$tmp/tcp.ebt" "$here/tcp.ebt"; chmod 0644 "$here/tcp.ebt" ;;
    sched)      # --sched: two cpuburn processes pinned to one CPU (run-queue waits, preemptions)
      record_cmd sched --sched -- sh -c "taskset -c 0 ./cpuburn --duration 0.6 --plugin-delay-ms 0 & taskset -c 0 ./cpuburn --duration 0.6 --plugin-delay-ms 0; wait" ;;
    *) echo "record.sh: unknown capture $name" >&2; exit 2 ;;
  esac
  echo "record.sh: $name.ebt $(stat -c %s "$here/$name.ebt") bytes" >&2
done
