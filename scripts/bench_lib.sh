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
