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

# CPU seconds PID's live threads have run so far, to the nanosecond (the first
# field of /proc/PID/task/*/schedstat). /proc/PID/stat counts in clock ticks
# (10 ms): over a 3-second bench that alone is +-0.4 % of the bench's CPU,
# a fifth of the 2 % leaf repair must stay under. A thread that exits between
# two readings takes its time with it: the tracers' threads live as long as they do.
bench_cpu_ns_of() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%.6f\n", ns / 1e9}'
}

# The BPF programs PID holds open, one line each: "PROG_ID RUN_TIME_NS RUN_CNT"
# (from /proc/PID/fdinfo; the counters only run while BPF statistics are on:
# kernel.bpf_stats_enabled=1, or scripts/bpf_stats_hold.py running).
# Link fds name a prog_id too but carry no counters: skipped.
bench_bpf_counters_of() {
  grep -H -E '^(prog_id|run_time_ns|run_cnt):' /proc/"$1"/fdinfo/* 2>/dev/null |
    awk -F'[:\t ]+' '{f = $1; v[f, $2] = $3; files[f] = 1}
      END {for (f in files) if ((f, "prog_id") in v && (f, "run_cnt") in v) print v[f, "prog_id"], v[f, "run_time_ns"], v[f, "run_cnt"]}' |
    sort -u -k1,1  # join's order
}

# "NAME RUN_TIME_NS RUN_CNT" per program between two bench_bpf_counters_of
# outputs (files BEFORE and AFTER), programs of one name summed (one per CPU
# or per attach point); names from bpftool, while PID still holds them.
bench_bpf_delta() {  # bench_bpf_delta BEFORE AFTER
  local id t c name
  join -a 2 "$1" "$2" 2>/dev/null | awk 'NF == 5 {print $1, $4 - $2, $5 - $3} NF == 3 {print $1, $2, $3}' |
    awk '$3 > 0' | while read -r id t c; do
      name=$(bpftool prog show id "$id" 2>/dev/null | sed -n 's/.* name \([^ ]*\).*/\1/p' | head -1)
      echo "${name:-prog$id} $t $c"
    done | awk '{t[$1] += $2; c[$1] += $3} END {for (n in t) print n, t[n], c[n]}' | sort
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
# the CPU seconds the tracer process used during the bench (to the ns). When
# the caller set `work`, the BPF run time of the tracer's programs during the
# bench goes to $work/last_bpf (bench_bpf_delta's lines; none unless BPF
# statistics are on).
bench_sched_pipe_with() {  # bench_sched_pipe_with PID CPU LOOPS OUT
  local before after r
  [[ -n ${work:-} ]] && bench_bpf_counters_of "$1" >"$work/bpf_before"
  before=$(bench_cpu_ns_of "$1")
  r=$(bench_sched_pipe "$2" "$3" "$4")
  after=$(bench_cpu_ns_of "$1")
  if [[ -n ${work:-} ]]; then
    bench_bpf_counters_of "$1" >"$work/bpf_after"
    bench_bpf_delta "$work/bpf_before" "$work/bpf_after" >"$work/last_bpf"
  fi
  echo "$r $(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.6f", a - b}')"
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
# keeps each measurement in BENCH_OPS, BENCH_US, BENCH_BYTES, BENCH_PER_SAMPLE,
# BENCH_TRACER_US (the tracer process's CPU per op) and BENCH_BPF_US (the run
# time of its BPF programs per op, on every CPU; 0 unless BPF statistics are on), one value per round in round order (the k-th
# values of two tools come from the same round), and BENCH_BPF_RUNS[TOOL]
# "NAME:NS_PER_RUN ..." of the last round.
# (Every statement here ends true: under `set -e` a loop whose last test came
# out false made the whole function return 1 and killed the script before its
# table — bench-leaf.sh 5 200000, whose last run had a capture but no sample count.)
bench_cpu_rounds() {  # bench_cpu_rounds ROUNDS TOOL...
  local rounds=$1 r k n t v o c tc us b s tus bus
  shift
  local tools=("$@")
  declare -gA BENCH_OPS=() BENCH_US=() BENCH_BYTES=() BENCH_PER_SAMPLE=() BENCH_TRACER_US=() BENCH_BPF_US=() BENCH_BPF_RUNS=()
  n=${#tools[@]}
  for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < n; k++)); do
      t=${tools[$(((k + r) % n))]}
      rm -f "$work/last_bytes" "$work/last_samples" "$work/last_bpf"
      v=$(bench_run "$t")
      read -r o c tc <<<"$v"
      us=$(awk -v c="$c" -v tc="$tc" -v l="$loops" 'BEGIN {printf "%.3f", (c + tc) * 1e6 / l}')
      tus=$(awk -v tc="$tc" -v l="$loops" 'BEGIN {printf "%.4f", tc * 1e6 / l}')
      bus=0
      if [[ -s $work/last_bpf ]]; then
        bus=$(awk -v l="$loops" '{ns += $2} END {printf "%.4f", ns / 1e3 / l}' "$work/last_bpf")
        BENCH_BPF_RUNS[$t]=$(awk '{printf "%s:%.0f ", $1, $2 / $3}' "$work/last_bpf")
      fi
      echo "round $((r + 1)) $t: $o ops/s, bench cpu $c s + tracer cpu $tc s = $us us/op (tracer $tus, BPF $bus us/op)" >&2
      BENCH_OPS[$t]+="$o "
      BENCH_US[$t]+="$us "
      BENCH_TRACER_US[$t]+="$tus "
      BENCH_BPF_US[$t]+="$bus "
      if [[ -s $work/last_bytes ]]; then
        b=$(cat "$work/last_bytes")
        BENCH_BYTES[$t]+="$b "
        s=$(cat "$work/last_samples" 2>/dev/null || true)
        if [[ -n $s && $s != 0 ]]; then
          BENCH_PER_SAMPLE[$t]+="$(awk -v b="$b" -v s="$s" 'BEGIN {printf "%.1f", b / s}') "
        fi
      fi
    done
  done
  return 0
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
  if [[ -n ${BENCH_STATS_HELD:-} ]]; then
    echo "BPF run-time statistics on for the whole run (scripts/bpf_stats_hold.py: two clock reads added to every BPF program run)."
  else
    echo "kernel.bpf_stats_enabled=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo '?') (1 adds two clock reads to every BPF program run)."
  fi
}

# An interval for the median of the numbers on stdin from their order
# statistics, distribution-free: [x(k), x(n+1-k)] holds the true median with
# probability 1 - 2 P(B <= k - 1), B ~ Binomial(n, 1/2), whatever the
# distribution; k is the largest that keeps that at least 90 %. Prints
# "LOW HIGH COVERAGE_PERCENT" ("- - 0" for fewer than 5 values: no interval
# reaches 90 %; 5 values give [min, max] at 93.8 %, 9 give x(2)..x(8) at 96.1 %).
bench_median_ci() {
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '
    function cdf(n, j,  i, p, t) { p = 1; for (i = 0; i < n; i++) p /= 2; t = 0
      for (i = 0; i <= j; i++) { t += p; p = p * (n - i) / (i + 1) } return t }
    {v[NR] = $1}
    END {
      n = NR; best = 0; cov = 0
      for (k = 1; 2 * k <= n; k++) { c = 1 - 2 * cdf(n, k - 1); if (c >= 0.9) { best = k; cov = c } }
      if (best == 0) print "- - 0"; else printf "%s %s %.1f\n", v[best], v[n + 1 - best], cov * 100
    }'
}

# Per-round ratios of two tools' values in a BENCH_* array (the k-th values
# are from the same round): "R1 R2 ...".
bench_paired_ratios() {  # bench_paired_ratios "A_VALUES" "B_VALUES"  -> B/A per round
  awk -v a="$1" -v b="$2" 'BEGIN {n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) if (x[i] > 0) printf "%.4f ", y[i] / x[i]; print ""}'
}

# Per-round differences B - A: "D1 D2 ...".
bench_paired_diffs() {  # bench_paired_diffs "A_VALUES" "B_VALUES"
  awk -v a="$1" -v b="$2" 'BEGIN {n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) printf "%.4f ", y[i] - x[i]; print ""}'
}

# Markdown table of where each tool's CPU goes (medians over the rounds): the
# tracer process's own CPU per op and its BPF programs' run time per op
# (with BPF statistics on; the programs run in the context of the task they
# interrupt or trace, so this time is already inside the bench's CPU when that
# task is the bench, and elsewhere else), with the mean ns per run of each
# program in the last round.
bench_cpu_components() {  # bench_cpu_components TOOL...
  local t
  echo "| tracer | tracer process CPU us/op | BPF run time us/op | BPF ns per run (last round) |"
  echo "|---|---:|---:|---|"
  for t in "$@"; do
    [[ -n ${BENCH_TRACER_US[$t]:-} ]] || continue
    printf '| %s | %.4f | %.4f | %s |\n' "$(bench_label "$t")" "$(echo "${BENCH_TRACER_US[$t]}" | bench_median)" \
      "$(echo "${BENCH_BPF_US[$t]}" | bench_median)" "${BENCH_BPF_RUNS[$t]:--}"
  done
}

# How much more CPU per op tool B costs than tool A, against a target (percent),
# two ways:
#  - the totals (bench + tracer CPU per op): median of the per-round ratios B/A
#    and the order-statistic interval of that median (bench_median_ci); the
#    target is met when the whole interval lies at or below 1 + TARGET/100,
#    missed when all of it lies above, else the rounds cannot tell;
#  - the added work itself, measured where it runs: the tracer process's CPU
#    and its BPF programs' run time per op, B minus A per round (medians), as
#    a percentage of A's total. Both are counted exactly (schedstat ns,
#    run_time_ns), so their difference is not lost in the bench's noise; what
#    they cannot see (cache and memory traffic the extra work causes the bench)
#    is what the totals bound.
bench_cpu_compare() {  # bench_cpu_compare A B TARGET_PERCENT
  local a=$1 b=$2 target=$3 ratios ci lo hi cov med base dtr dbpf verdict n
  ratios=$(bench_paired_ratios "${BENCH_US[$a]}" "${BENCH_US[$b]}")
  n=$(echo "$ratios" | wc -w)
  med=$(echo "$ratios" | bench_median)
  read -r lo hi cov <<<"$(echo "$ratios" | bench_median_ci)"
  base=$(echo "${BENCH_US[$a]}" | bench_median)
  dtr=$(bench_paired_diffs "${BENCH_TRACER_US[$a]}" "${BENCH_TRACER_US[$b]}" | bench_median)
  dbpf=$(bench_paired_diffs "${BENCH_BPF_US[$a]}" "${BENCH_BPF_US[$b]}" | bench_median)
  if [[ $lo == - ]]; then
    verdict="too few rounds for an interval (5 at least)"
  else
    verdict=$(awk -v lo="$lo" -v hi="$hi" -v t="$target" 'BEGIN {
      if (hi <= 1 + t / 100) print "met: the whole interval is within +" t " %";
      else if (lo > 1 + t / 100) print "missed: the whole interval is above +" t " %";
      else print "not decided by the totals: the interval straddles +" t " %" }')
  fi
  echo "**$(bench_label "$b") against $(bench_label "$a")**, target at most +$target % CPU per op:"
  echo
  awk -v med="$med" -v lo="$lo" -v hi="$hi" -v cov="$cov" -v n="$n" -v v="$verdict" -v r="$ratios" 'BEGIN {
    if (lo == "-") printf "- totals: median of %d per-round ratios %.4f (%s); %s.\n", n, med, r, v
    else printf "- totals: median of %d per-round ratios %.4f, %.1f %% interval [%.4f, %.4f] (per round: %s); %s.\n", n, med, cov, lo, hi, r, v }'
  awk -v dtr="$dtr" -v dbpf="$dbpf" -v base="$base" -v t="$target" 'BEGIN {
    d = dtr + dbpf
    printf "- added work, measured where it runs: tracer process %+.4f us/op, BPF programs %+.4f us/op: %+.4f us/op = %+.2f %% of %.2f us/op", dtr, dbpf, d, 100 * d / base, base
    if (dbpf == 0) printf " (BPF: none counted, statistics off?)"
    printf "; %s +%s %%.\n", (100 * d / base <= t) ? "within" : "above", t }'
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
