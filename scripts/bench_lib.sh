# Helpers shared by the scripts/bench-*.sh scripts (sourced, never run).
# Every benchmark runs its configurations side by side: one round runs each
# configuration once, in an order that rotates from round to round, and the
# tables print medians, so slow drifts of a shared VM hit every row alike.

# Median of the numbers on stdin (separated by spaces or newlines); the mean of
# the two middle ones for an even count.
bench_median() {
  tr ' ' '\n' | grep -v '^$' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# SIGINT a tracer and wait until it has finished writing.
bench_stop() {
  kill -INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# CPU seconds (user + sys, all threads) process PID has used so far.
bench_cpu_of() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# Waits up to 20 s for FILE (an --ready-file) to appear; false if it did not.
bench_wait_file() {
  local i
  for ((i = 0; i < 400; i++)); do [[ -e $1 ]] && return 0; sleep 0.05; done
  return 1
}

# One `perf bench sched pipe -l LOOPS` run pinned to CPU (every op is then two
# context switches on that CPU), its output in OUT. Prints "OPS_PER_S
# CPU_SECONDS": wall-clock throughput, and the CPU time (user + sys) its two
# processes used. The CPU time is what tracing adds per switch, and unlike
# wall-clock throughput it does not depend on how busy the rest of the machine is.
bench_sched_pipe() {  # bench_sched_pipe CPU LOOPS OUT
  bash -c 'taskset -c "$1" perf bench sched pipe -l "$2" >"$3" 2>&1; times' _ "$1" "$2" "$3" |
    awk -v f="$3" '
      function sec(t,  m, s) { m = t; sub(/m.*/, "", m); s = t; sub(/^[0-9]+m/, "", s); sub(/s$/, "", s); return m * 60 + s }
      NR == 2 { cpu = sec($1) + sec($2) }
      END { while ((getline l < f) > 0) if (l ~ /ops\/sec/) { split(l, a, " "); ops = a[1] } printf "%s %.3f\n", ops, cpu }'
}

# bench_sched_pipe while tracer PID runs: "OPS CPU TRACER_CPU", the last being
# the CPU seconds the tracer process used during the bench.
bench_sched_pipe_with() {  # bench_sched_pipe_with PID CPU LOOPS OUT
  local before after r
  before=$(bench_cpu_of "$1")
  r=$(bench_sched_pipe "$2" "$3" "$4")
  after=$(bench_cpu_of "$1")
  echo "$r $(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.3f", a - b}')"
}

# ---- CPU per operation of `perf bench sched pipe` under tracers -------------
# (scripts/bench-sched.sh, bench-offcpu.sh, bench-leaf.sh)
#
# A script sets `work` (a scratch directory), `cpu` and `loops`, and defines
#   bench_run TOOL    runs one measurement of TOOL, printing "OPS BENCH_CPU TRACER_CPU"
#                     (bench_sched_pipe_with does), optionally writing the capture size
#                     to $work/last_bytes and its sample count to $work/last_samples;
#   bench_label TOOL  the table's name for TOOL.
# bench_cpu_rounds runs the rounds, bench_cpu_table prints the table; the first
# tool is the baseline (untraced). CPU per op = the bench's own CPU time (user +
# sys of its two processes: the BPF programs and perf's sampling run in their
# context at each switch) plus the tracer process's CPU time during the bench,
# over LOOPS ops. Unlike wall-clock throughput it does not depend on how busy
# the rest of the machine is.

# The untraced baseline.
bench_untraced() { echo "$(bench_sched_pipe "$cpu" "$loops" "$work/bench.out") 0"; }

# `ebtrace record -a ARGS...` around one bench run. Measured past its start-up
# (BENCH_SETTLE seconds after --ready-file, default 1.5: with -a the recorder
# first reads every process's mappings and symbols), as perf gets the same.
bench_ebtrace() {  # bench_ebtrace EBTRACE ARGS...
  local bin=$1 pid
  shift
  rm -f "$work/ready" "$work/e.ebt"
  "$bin" record -a -o "$work/e.ebt" --ready-file "$work/ready" "$@" >"$work/ebtrace.out" 2>"$work/ebtrace.err" &
  pid=$!
  bench_wait_file "$work/ready" || { echo "bench: ebtrace $* did not start" >&2; cat "$work/ebtrace.err" >&2; kill "$pid" 2>/dev/null; exit 1; }
  sleep "${BENCH_SETTLE:-1.5}"
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  ebtrace $*: $(tail -1 "$work/ebtrace.err")" >&2
  grep -q 'ebtrace record:' "$work/ebtrace.err" || { echo "bench: ebtrace $* failed" >&2; cat "$work/ebtrace.err" >&2; exit 1; }
  stat -c %s "$work/e.ebt" >"$work/last_bytes"
  # "N samples" of the summary line: bytes per sample of the on-CPU rows
  grep -o '[0-9]* samples' "$work/ebtrace.err" | tail -1 | cut -d' ' -f1 >"$work/last_samples" || true
}

# `perf ARGS... -o FILE` (record, sched record) around one bench run.
bench_perf() {  # bench_perf ARGS...
  local pid
  rm -f "$work/p.data"
  perf "$@" -o "$work/p.data" >"$work/perf.out" 2>"$work/perf.err" &
  pid=$!
  sleep 1.5  # perf has no readiness signal; it attaches well within this
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
  echo "  perf $*: $(grep -E 'samples|written' "$work/perf.err" | tail -1)" >&2
  stat -c %s "$work/p.data" >"$work/last_bytes"
  grep -o '([0-9]* samples)' "$work/perf.err" | tr -dc '0-9' >"$work/last_samples" || true
}

# A libbpf tool that prints nothing until it exits (runqlat, offcputime).
bench_bpf_tool() {  # bench_bpf_tool CMD ARGS...
  local pid
  "$@" >"$work/tool.out" 2>"$work/tool.err" &
  pid=$!
  sleep 2  # no readiness signal; loading takes well under this
  kill -0 "$pid" 2>/dev/null || { echo "bench: $* failed" >&2; cat "$work/tool.err" >&2; exit 1; }
  bench_sched_pipe_with "$pid" "$cpu" "$loops" "$work/bench.out"
  bench_stop "$pid"
}

# Runs ROUNDS rounds of every TOOL (the order rotates from round to round) and
# keeps each measurement in BENCH_OPS, BENCH_US, BENCH_BYTES, BENCH_PER_SAMPLE.
bench_cpu_rounds() {  # bench_cpu_rounds ROUNDS TOOL...
  local rounds=$1 r k n t v o c tc us b s
  shift
  local tools=("$@")
  declare -gA BENCH_OPS=() BENCH_US=() BENCH_BYTES=() BENCH_PER_SAMPLE=()
  n=${#tools[@]}
  for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < n; k++)); do
      t=${tools[$(((k + r) % n))]}
      rm -f "$work/last_bytes" "$work/last_samples"
      v=$(bench_run "$t")
      read -r o c tc <<<"$v"
      us=$(awk -v c="$c" -v tc="$tc" -v l="$loops" 'BEGIN {printf "%.3f", (c + tc) * 1e6 / l}')
      echo "round $((r + 1)) $t: $o ops/s, bench cpu $c s + tracer cpu $tc s = $us us/op" >&2
      BENCH_OPS[$t]+="$o "
      BENCH_US[$t]+="$us "
      if [[ -s $work/last_bytes ]]; then
        b=$(cat "$work/last_bytes")
        BENCH_BYTES[$t]+="$b "
        s=$(cat "$work/last_samples" 2>/dev/null || true)
        [[ -n $s && $s != 0 ]] && BENCH_PER_SAMPLE[$t]+="$(awk -v b="$b" -v s="$s" 'BEGIN {printf "%.1f", b / s}') "
      fi
    done
  done
}

# The Markdown table of bench_cpu_rounds' measurements (medians; the first
# TOOL is the baseline), then the setup line.
bench_cpu_table() {  # bench_cpu_table ROUNDS TOOL...
  local rounds=$1 t c o b ps base_cpu base_ops
  shift
  base_cpu=$(echo "${BENCH_US[$1]}" | bench_median)
  base_ops=$(echo "${BENCH_OPS[$1]}" | bench_median)
  echo "| tracer | CPU us/op (median) | CPU vs untraced | added us/op | ops/s wall (median) | ops/s vs untraced | capture bytes | bytes/sample | CPU us/op per round |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
  for t in "$@"; do
    c=$(echo "${BENCH_US[$t]}" | bench_median)
    o=$(echo "${BENCH_OPS[$t]}" | bench_median)
    b="-"
    [[ -n ${BENCH_BYTES[$t]:-} ]] && b=$(echo "${BENCH_BYTES[$t]}" | bench_median)
    ps="-"
    [[ -n ${BENCH_PER_SAMPLE[$t]:-} ]] && ps=$(echo "${BENCH_PER_SAMPLE[$t]}" | bench_median)
    awk -v l="$(bench_label "$t")" -v c="$c" -v bc="$base_cpu" -v o="$o" -v bo="$base_ops" -v b="$b" -v ps="$ps" \
      -v runs="${BENCH_US[$t]}" \
      'BEGIN {printf "| %s | %.2f | %.2fx | %+.2f | %d | %.2f | %s | %s | %s|\n", l, c, c / bc, c - bc, o, o / bo, b, ps, runs}'
  done
  echo
  echo "\`perf bench sched pipe -l $loops\` pinned to CPU $cpu (2 context switches per op), $rounds interleaved rounds,"
  echo "$(nproc) CPUs, kernel $(uname -r), load average at the end $(cut -d' ' -f1-3 /proc/loadavg),"
  echo "kernel.bpf_stats_enabled=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo '?') (1 adds two clock reads to every BPF program run)."
}

# Rounds of throughput measurements: each round calls run_CONFIG for every
# configuration (rotating the order), which prints one rate. Prints a Markdown
# table of the median rate and the median of the per-round ratios to the first
# configuration (the untraced baseline).
bench_rate_rounds() {  # bench_rate_rounds ROUNDS UNIT CONFIG...
  local rounds=$1 unit=$2 r k c v n
  shift 2
  local configs=("$@")
  declare -A rate=() ratio=() this=()
  for ((r = 0; r < rounds; r++)); do
    this=()
    n=${#configs[@]}
    for ((k = 0; k < n; k++)); do
      c=${configs[(k + r) % n]}
      v=$("run_$c")
      this[$c]=$v
      rate[$c]+="$v "
      echo "round $((r + 1)) $c: $v $unit/s" >&2
    done
    for c in "${configs[@]}"; do
      ratio[$c]+="$(awk -v a="${this[$c]}" -v u="${this[${configs[0]}]}" 'BEGIN {printf "%.3f", a / u}') "
    done
  done
  echo "| configuration | $unit/s (median) | ratio to ${configs[0]} (median of per-round ratios) |"
  echo "|---|---:|---:|"
  for c in "${configs[@]}"; do
    printf '| %s | %.0f | %s |\n' "$c" "$(echo "${rate[$c]}" | bench_median)" "$(echo "${ratio[$c]}" | bench_median)"
  done
}

# Puts SECTION (which starts with `<!-- NAME:begin` and ends with
# `<!-- NAME:end -->`) into DOC, replacing the section of that name if present.
bench_write_section() {  # bench_write_section DOC NAME SECTION
  local doc=$1 name=$2 section=$3
  [[ -f $doc ]] || printf '# ebtrace benchmarks\n\n' >"$doc"
  if grep -q "<!-- $name:begin" "$doc"; then
    python3 - "$doc" "$name" "$section" <<'PY'
import re, sys
path, name, section = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
pattern = r'<!-- ' + re.escape(name) + r':begin.*?<!-- ' + re.escape(name) + r':end -->'
text = re.sub(pattern, lambda m: section, text, flags=re.S)
open(path, 'w').write(text)
PY
  else
    printf '\n%s\n' "$section" >>"$doc"
  fi
  echo "$section"
}
