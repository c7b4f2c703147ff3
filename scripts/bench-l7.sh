#!/usr/bin/env bash
# Syscall payload capture overhead on redis, side by side in one run:
#
#   redis-benchmark -t set,get -n N -c 50 -d 64 -P P -q   against a loopback redis-server,
#   once per pipeline depth P in PIPELINES (default "1 16")
#   untraced | floor (empty BPF programs on the same 16 syscall tracepoints ebtrace
#   uses, attached by bpftrace: the cost of the hooks alone) | ebtrace record --l7 -p
#   REDIS | bpftrace one-liner (read/write payloads, printf %r of up to 200 bytes, the
#   bpftrace maximum) | perf trace -e read,write -p REDIS
#
# For ebtrace it also prints the bytes per request: of the capture file, and of
# the ring buffer records (64-byte header + the payload bytes actually moved, as
# the recorder's summary counts them) against what fixed 256-byte payload slots
# would take (64 + 256 per syscall).
#
# Rounds are interleaved (every configuration once per round, rotating order)
# under nice -n -20; medians of requests/s per configuration and the per-round
# ratio to untraced are printed. Also: lost events of each tracer, and how many
# requests `ebtrace report --latency` matched in the last ebtrace capture
# (lossless means every benchmark request is there). "tracer CPU" is the CPU
# time of the tracer's own process during the benchmark per request: the
# figure that does not depend on how loaded the machine is (the throughput
# does).
#
# REQUESTS is per test at -P 1; at -P P > 1 each test runs REQUESTS * P / 4
# (a pipelined run is that much faster: -P 16 at 100000 requests lasted 0.13 s
# per test, too short to be past anyone's start-up).
#
# usage: sudo [CONFIGS="untraced floor ebtrace ..."] [WARMUP=0] [EBTRACE_ARGS="--buffer-size 2M"] [PIPELINES="1 16"] \
#          scripts/bench-l7.sh [BUILD_DIR] [ROUNDS=3] [REQUESTS=200000]
# Prints a Markdown table (for docs/benchmarks.md) on stdout; details on stderr.
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"

build=${1:-build}
rounds=${2:-3}
requests=${3:-200000}
ebtrace=$(realpath "$build/cli/ebtrace")
[[ -x $ebtrace ]] || { echo "bench-l7: $ebtrace not built" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench-l7: needs root" >&2; exit 2; }
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
  { echo "bench-l7: redis-server / redis-benchmark (redis-tools) missing" >&2; exit 2; }
have_bpftrace=$(command -v bpftrace || true)
have_perf=$(command -v perf || true)

renice -n -20 -p $$ >/dev/null  # the VM is shared: keep the benchmark (and redis) ahead
work=$(mktemp -d /tmp/ebt-bench-l7-XXXXXX)
port=$((20000 + RANDOM % 20000))
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >"$work/redis.log" 2>&1 &
redis=$!
trap 'kill $redis 2>/dev/null; wait $redis 2>/dev/null; rm -rf "$work"' EXIT
for ((i = 0; i < 100; i++)); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$redis/stat"; }
# Busy ticks of the whole machine (user, nice, system, irq, softirq): redis,
# redis-benchmark, the tracer's recorder and whatever else runs.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# "SET_RPS GET_RPS REDIS_CPU_US_PER_REQUEST MACHINE_CPU_US_PER_REQUEST" of one
# benchmark run. The CPU time redis-server itself spends per request is the
# steadier figure on a shared VM: throughput here is bound by the latency of 50
# clients on 2 busy vCPUs. The machine's CPU per request adds the client's and
# the tracer's share (and other users' noise).
# A tracer's pid as the first argument adds "TRACER_CPU_US_PER_REQUEST" (else "-").
# Every configuration first runs a warm-up of a quarter of the requests, not
# measured (WARMUP=0: none): the figures are the steady state, past one-time
# start-up work of any tracer (ebtrace with its default on-CPU sampling reads
# the symbol tables and DWARF of the objects the first samples hit, e.g. libc's
# debug file: about 0.1-0.2 CPU-s once per recording, which a -P 16 test of
# 0.2 s would otherwise carry almost alone).
bench() {
  local tracer=${1:-} c0=0 c1=0
  if [[ ${WARMUP:-1} != 0 ]]; then
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n $((requests / 4)) -c 50 -d 64 -P "$pipeline" -q >/dev/null 2>&1
  fi
  [[ -n $tracer ]] && c0=$(bench_cpu_of "$tracer")
  local t0 t1 m0 m1 hz; t0=$(cpu_ticks); m0=$(machine_ticks); hz=$(getconf CLK_TCK)
  local out; out=$(redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n "$requests" -c 50 -d 64 -P "$pipeline" -q 2>/dev/null |
    tr '\r' '\n' | awk '/^SET: [0-9]/ {s=$2} /^GET: [0-9]/ {g=$2} END {print s, g}')
  t1=$(cpu_ticks); m1=$(machine_ticks)
  [[ -n $tracer ]] && c1=$(bench_cpu_of "$tracer")
  echo "$out $(awk -v d=$((t1 - t0)) -v m=$((m1 - m0)) -v hz="$hz" -v n="$requests" -v c0="$c0" -v c1="$c1" -v t="$tracer" \
    'BEGIN {printf "%.2f %.2f %s", d / hz * 1e6 / (2 * n), m / hz * 1e6 / (2 * n), t == "" ? "-" : sprintf("%.3f", (c1 - c0) * 1e6 / (2 * n))}')"
}


# Requests a tracer saw in one run: the measured ones and the warm-up's.
recorded_requests() { echo $((requests + (${WARMUP:-1} != 0 ? requests / 4 : 0))); }

run_untraced() { bench; }

run_ebtrace() {
  rm -f "$work/ready" "$work/e.ebt"
  # shellcheck disable=SC2086 # EBTRACE_ARGS: extra record options, word-split on purpose
  "$ebtrace" record --l7 ${EBTRACE_ARGS:-} -p "$redis" -o "$work/e.ebt" --ready-file "$work/ready" \
    >"$work/ebtrace.out" 2>"$work/ebtrace.err" &
  local pid=$!
  for ((i = 0; i < 400; i++)); do [[ -e $work/ready ]] && break; sleep 0.05; done
  [[ -e $work/ready ]] || { echo "bench-l7: ebtrace did not start" >&2; cat "$work/ebtrace.err" >&2; exit 1; }
  bench "$pid"
  bench_stop "$pid"
  local line; line=$(tail -1 "$work/ebtrace.err")
  echo "  ebtrace: $line" >&2
  # (grep finding nothing must not end the script: set -e with pipefail)
  { echo "$line" | grep -o '[0-9]* lost' || echo 0; } | awk '{print $1}' >>"$work/lost.ebtrace"
  # "N syscalls on M sockets (P payload bytes)": ring bytes per request, variable
  # vs fixed 256-byte slots and vs fixed slots of the --payload-bytes in force
  # (what holds the same bytes); and the capture file's bytes per request.
  local sc pb; sc=$({ grep -o '[0-9]* syscalls on' "$work/ebtrace.err" || true; } | tail -1 | awk '{print $1}')
  pb=$({ grep -o '[0-9]* payload bytes' "$work/ebtrace.err" || true; } | tail -1 | awk '{print $1}')
  awk -v sc="${sc:-0}" -v pb="${pb:-0}" -v f="$(stat -c %s "$work/e.ebt")" -v n="$(recorded_requests)" -v max="$payload_max" \
    'BEGIN {printf "%.1f %.1f %.1f %.1f\n", (sc * 64 + pb) / (2 * n), sc * (64 + 256) / (2 * n), f / (2 * n), sc * (64 + max) / (2 * n)}' \
    >>"$work/bytes.ebtrace"
}

# The floor: the same 16 tracepoints with programs that do nothing.
run_floor() {
  local probes="" s
  for s in read write readv writev sendto recvfrom sendmsg recvmsg; do
    probes+="tracepoint:syscalls:sys_enter_$s,tracepoint:syscalls:sys_exit_$s,"
  done
  "$have_bpftrace" -e "${probes%,} { }" >"$work/floor.out" 2>"$work/floor.err" &
  local pid=$!
  for ((i = 0; i < 400; i++)); do grep -q Attaching "$work/floor.out" 2>/dev/null && break; sleep 0.05; done
  sleep 1  # "Attaching" is printed before the programs are attached
  bench
  # bpftrace with nothing to print never looks at SIGINT: kill it (the kernel
  # detaches the programs when their last fd closes).
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run_bpftrace() {
  local P=$redis
  "$have_bpftrace" -e "
tracepoint:syscalls:sys_enter_read /pid == $P/ { @rb[tid] = args->buf; }
tracepoint:syscalls:sys_exit_read /@rb[tid]/ { if (args->ret > 0) { printf(\"R %d %r\n\", args->ret, buf(@rb[tid], args->ret < 200 ? args->ret : 200)); } delete(@rb[tid]); }
tracepoint:syscalls:sys_enter_write /pid == $P/ { printf(\"W %d %r\n\", args->count, buf(args->buf, args->count < 200 ? args->count : 200)); }" \
    >"$work/bt.out" 2>"$work/bt.err" &
  local pid=$!
  for ((i = 0; i < 400; i++)); do grep -q Attaching "$work/bt.out" 2>/dev/null && break; sleep 0.05; done
  bench "$pid"
  bench_stop "$pid"
  local lost; lost=$({ grep -ho 'Lost [0-9]* events' "$work/bt.out" "$work/bt.err" 2>/dev/null || true; } | awk '{s+=$2} END {print s+0}')
  echo "  bpftrace: $(grep -c '^[RW] ' "$work/bt.out") payload lines, $lost lost" >&2
  echo "$lost" >>"$work/lost.bpftrace"
}

run_perf() {
  rm -f "$work/p.trace"
  "$have_perf" trace -e read,write -p "$redis" -o "$work/p.trace" >/dev/null 2>"$work/perf.err" &
  local pid=$!
  sleep 1.5  # perf trace has no readiness signal
  bench "$pid"
  bench_stop "$pid"
  echo "  perf trace: $(wc -l <"$work/p.trace") lines" >&2
  # perf trace reports LOST events in its output
  { grep -o 'LOST [0-9]* events' "$work/p.trace" || true; } | awk '{s+=$2} END {print s+0}' >>"$work/lost.perf"
}

configs=(untraced)
[[ -n $have_bpftrace ]] && configs+=(floor)
configs+=(ebtrace)
[[ -n $have_bpftrace ]] && configs+=(bpftrace)
[[ -n $have_perf ]] && configs+=(perf)
# CONFIGS="untraced ebtrace": a subset, for quick iterations (untraced is always kept).
if [[ -n ${CONFIGS:-} ]]; then
  configs=(untraced)
  for c in $CONFIGS; do [[ $c != untraced ]] && configs+=("$c"); done
fi

# The --payload-bytes ebtrace runs with: the --l7 default unless EBTRACE_ARGS sets one.
payload_max=4096
if [[ ${EBTRACE_ARGS:-} =~ --payload-bytes[=\ ]+([0-9]+) ]]; then payload_max=${BASH_REMATCH[1]}; fi

base_requests=$requests
for pipeline in ${PIPELINES:-1 16}; do
requests=$base_requests
((pipeline > 1)) && requests=$((base_requests * pipeline / 4))
rm -f "$work"/lost.* "$work"/bytes.*
declare -A set_rps=() get_rps=() ratios=() floor_ratios=() cpu_us=() machine_us=() tracer_us=()
for ((r = 0; r < rounds; r++)); do
  n=${#configs[@]}
  order=()
  for ((k = 0; k < n; k++)); do order+=("${configs[(k + r) % n]}"); done
  declare -A this_round=()
  for c in "${order[@]}"; do
    # Through a file, not < <(run_$c): read would return at the first line while
    # the tracer is still being stopped, overlapping its shutdown with the next run.
    run_$c >"$work/result"
    read -r s g u m t <"$work/result"
    echo "-P $pipeline round $((r + 1)) $c: SET $s GET $g redis-cpu-us/req $u machine-cpu-us/req $m tracer-cpu-us/req $t (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    set_rps[$c]+="$s "
    get_rps[$c]+="$g "
    cpu_us[$c]+="$u "
    machine_us[$c]+="$m "
    [[ $t != - ]] && tracer_us[$c]+="$t "
    this_round[$c]="$s $g"
  done
  read -r us ug <<<"${this_round[untraced]}"
  fs=""; fg=""
  [[ -n ${this_round[floor]:-} ]] && read -r fs fg <<<"${this_round[floor]}"
  for c in "${configs[@]}"; do
    read -r s g <<<"${this_round[$c]}"
    ratios[$c]+="$(awk -v a="$s" -v b="$g" -v ua="$us" -v ub="$ug" 'BEGIN {printf "%.3f", (a + b) / (ua + ub)}') "
    [[ -n $fs ]] && floor_ratios[$c]+="$(awk -v a="$s" -v b="$g" -v ua="$fs" -v ub="$fg" 'BEGIN {printf "%.3f", (a + b) / (ua + ub)}') "
  done
  unset this_round
done

matched=""
if [[ -e $work/e.ebt ]]; then
  matched=$("$ebtrace" report "$work/e.ebt" --latency --format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["unanswered"], d["unmatched_responses"], d["truncated"], d["name_hidden"], d["response_hidden"], d["hidden_regions"])' || true)
fi

echo
echo "### redis-benchmark -P $pipeline"
echo
echo "| tracer | SET req/s (median) | GET req/s (median) | throughput ratio to untraced | ratio to the floor (empty programs) | redis-server CPU us/request | machine CPU us/request | tracer process CPU us/request | lost events (sum of all rounds) |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in "${configs[@]}"; do
  lost=$(awk '{s += $1} END {print NR ? s : "-"}' "$work/lost.$c" 2>/dev/null || echo "-")
  [[ $c == untraced || $c == floor ]] && lost="-"
  fr="-"
  [[ -n ${floor_ratios[$c]:-} ]] && fr=$(echo "${floor_ratios[$c]}" | bench_median)
  tu="-"
  [[ -n ${tracer_us[$c]:-} ]] && tu=$(echo "${tracer_us[$c]}" | bench_median)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$(echo "${set_rps[$c]}" | bench_median)" \
    "$(echo "${get_rps[$c]}" | bench_median)" "$(echo "${ratios[$c]}" | bench_median)" "$fr" "$(echo "${cpu_us[$c]}" | bench_median)" \
    "$(echo "${machine_us[$c]}" | bench_median)" "$tu" "$lost"
done
echo
echo "rounds: $rounds, requests per test: $requests (set and get, after a warm-up of $((${WARMUP:-1} != 0 ? requests / 4 : 0))), clients: 50, value: 64 B, pipeline: $pipeline, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -e $work/bytes.ebtrace ]]; then
  read -r v f b x < <(awk '{v += $1; f += $2; b += $3; x += $4} END {printf "%.1f %.1f %.1f %.1f\n", v / NR, f / NR, b / NR, x / NR}' "$work/bytes.ebtrace")
  echo "ebtrace bytes per request (mean of its runs): ring records $v variable vs $f with fixed 256-byte payload slots (ratio $(awk -v v="$v" -v f="$f" 'BEGIN {printf "%.2f", v / f}'); with -P > 1 a 256-byte slot would hold only the first commands of each batch) and $x with fixed $payload_max-byte slots, which hold what the variable records hold (ratio $(awk -v v="$v" -v x="$x" 'BEGIN {printf "%.2f", v / x}')); capture file $b"
fi
[[ -n $matched ]] && echo "ebtrace report --latency on the last ebtrace capture ($((2 * $(recorded_requests))) benchmark requests, warm-up included, + 2 CONFIG GET per redis-benchmark run): requests, unanswered, unmatched responses, truncated, counted from responses, response not captured, uncounted stretches = $matched"
done
