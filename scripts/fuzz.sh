#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan; docs/security.md)
# in build-fuzz/ and runs each over its corpus.
#
#   scripts/fuzz.sh                       # every target, 60 s each
#   scripts/fuzz.sh --time 3600 report    # one target for an hour
#   scripts/fuzz.sh --ci                  # CI: the committed corpora and regressions,
#                                         # then a short fixed budget per target
#   scripts/fuzz.sh --runs 10000000 reader  # until that many executions (or --time)
#   scripts/fuzz.sh --merge               # fold new inputs (build-fuzz/corpus-new) into
#                                         # tests/fuzz/corpus, minimized within a size budget
#   scripts/fuzz.sh --coverage            # line coverage of format/, symbolize/, unwind/
#                                         # over the corpora (clang source-based, build-cov/)
# Options: --time SECONDS per target, --runs N, --build DIR, --rss MB, --max-len
# BYTES (default 65536: every committed input is far smaller, and a capture that
# grows past it only costs more per execution; the limits that depend on the file
# size scale with it), --timeout SECONDS per input (default 60; 0: none, for a
# run that may be paused with SIGSTOP: libFuzzer's timer counts wall time, so a
# paused input would look hung. Slow inputs are still saved, as slow-unit-*, and
# replayed with a timeout when the run ends), --pid-file FILE (each fuzzer's pid
# is appended, for kill -STOP / -CONT), --no-build (use the fuzzers DIR has,
# e.g. while another run uses them), --build-only, --fork N (libFuzzer's fork
# mode: one run whose N worker processes share the corpus and the -runs count,
# so a long run uses every core; it still stops at the first finding). New inputs go to
# DIR/corpus-new/TARGET (the committed corpora are never written except by
# --merge); a crash, sanitizer report, timeout or memory blow-up
# (> --rss, default 2048 MB) stops the run with exit 1 and leaves the input in
# DIR/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
time_s=
build=build-fuzz
rss=2048
runs=0
max_len=65536
ci=0
merge=0
coverage=0
timeout=60
pid_file=
no_build=0
build_only=0
fork=0
targets=()
while (($#)); do
  case "$1" in
    --time) time_s=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --rss) rss=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --max-len) max_len=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --pid-file) pid_file=$2; shift 2 ;;
    --coverage) coverage=1; shift ;;
    --no-build) no_build=1; shift ;;
    --build-only) build_only=1; shift ;;
    --fork) fork=$2; shift 2 ;;
    --ci) ci=1; shift ;;
    --merge) merge=1; shift ;;
    reader|report|unwind_table) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(reader report unwind_table)
((ci)) && time_s=${EBTRACE_FUZZ_CI_SECONDS:-45}
# --runs alone runs until that many executions; otherwise 60 s by default.
[[ -z $time_s ]] && { ((runs)) && time_s=0 || time_s=60; }
runs_arg=$((runs > 0 ? runs : -1))
corpus=tests/fuzz/corpus
# Size of each committed corpus after --merge, KiB (see there).
declare -A budget_kb=([reader]=1024 [report]=2048 [unwind_table]=512)


if ((coverage)); then
  # Clang source-based coverage of the fuzz targets in their own build
  # (build-cov/), each replaying its committed corpus and what runs in --build
  # found (DIR/corpus-new); the line totals of the three directories a hostile
  # capture reaches first.
  cov=build-cov
  if [[ ! -f $cov/CMakeCache.txt ]]; then
    flags="-fprofile-instr-generate -fcoverage-mapping"
    CC=clang CXX=clang++ cmake -S . -B "$cov" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEBTRACE_FUZZ=ON -DEBTRACE_BUILD_BENCH=OFF -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS=-fprofile-instr-generate >/dev/null
  fi
  cmake --build "$cov" -j"$(nproc)" --target fuzzers >/dev/null
  rm -rf "$cov/profiles" && mkdir -p "$cov/profiles"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
  objects=()
  for t in "${targets[@]}"; do
    bin=$cov/tests/fuzz/fuzz_$t
    objects+=(-object "$bin")
    dirs=("$corpus/$t")
    [[ -d $build/corpus-new/$t ]] && dirs+=("$build/corpus-new/$t")
    n=$(find "${dirs[@]}" -type f | wc -l)
    # Given files (not directories), libFuzzer runs each once and exits.
    find "${dirs[@]}" -type f -print0 |
      LLVM_PROFILE_FILE="$PWD/$cov/profiles/$t-%p.profraw" xargs -0 -n 256 "$bin" -timeout=60 \
        -rss_limit_mb="$rss" >"$cov/replay-$t.log" 2>&1 ||
      { echo "fuzz.sh: $t: an input fails when replayed (see $cov/replay-$t.log)" >&2; exit 1; }
    echo "fuzz.sh: coverage: $t: $n inputs replayed" >&2
  done
  llvm-profdata merge -sparse "$cov"/profiles/*.profraw -o "$cov/fuzz.profdata"
  : >"$cov/coverage.txt"
  for dir in format symbolize unwind; do
    mapfile -t sources < <(git ls-files "$dir" | grep -E '\.(cpp|h)$' | sed "s|^|$PWD/|")
    # TOTAL row: regions, missed, %, functions, missed, %, lines, missed lines, %.
    read -r lines missed < <(llvm-cov report "${objects[@]:1}" -instr-profile="$cov/fuzz.profdata" \
      "${sources[@]}" | awk '$1 == "TOTAL" { print $8, $9 }')
    line="$dir/: $((lines - missed)) of $lines lines ($(awk -v c=$((lines - missed)) -v l="$lines" \
      'BEGIN { printf "%.1f", 100 * c / l }') %)"
    echo "$line" | tee -a "$cov/coverage.txt" >&2
  done
  echo "fuzz.sh: per-file report: llvm-cov report ${objects[*]:1} -instr-profile=$cov/fuzz.profdata" >&2
  exit 0
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEBTRACE_FUZZ=ON -DEBTRACE_BUILD_BENCH=OFF >/dev/null
fi
((no_build)) || cmake --build "$build" -j"$(nproc)" --target fuzzers >/dev/null
((build_only)) && exit 0

# Leaks are not this script's subject (docs/security.md): LeakSanitizer at exit
# would also report what the custom mutator holds when -max_total_time ends a
# run mid-mutation. Every memory error and undefined behaviour still stops it.
# A 16 MB quarantine (default 256 MB) keeps freed memory poisoned for well over
# one execution's allocations and makes executions a third cheaper (fresh pages
# and their zeroing were most of ASan's cost).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:quarantine_size_mb=16}

mkdir -p "$build/findings"
status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  new=$build/corpus-new/$t
  mkdir -p "$new"
  if ((merge)); then
    # The committed corpus plus what runs found, within a size budget (the
    # repository keeps a few MB): libFuzzer's merge runs every input once and
    # writes each one's edges and features to a control file; the committed
    # inputs are all kept, then scripts/fuzz_corpus_budget.py adds the inputs
    # that cover the most new edges (then features) per byte. A plain -merge=1
    # keeps every input that adds a feature (~50 MB for report).
    # The control file is kept: a merge stopped half-way resumes from it when run
    # again over the same files (libFuzzer checks; other files: it starts over).
    tmp=$(mktemp -d)
    ctl=$build/merge-$t.control
    "$bin" -merge=1 -merge_control_file="$ctl" -rss_limit_mb="$rss" -timeout=60 -max_len="$max_len" \
      "$tmp" "$corpus/$t" "$new" >"$build/merge-$t.log" 2>&1 ||
      { echo "fuzz.sh: $t: merge failed (see $build/merge-$t.log)" >&2; rm -rf "$tmp"; status=1; continue; }
    rm -rf "$tmp" && mkdir -p "$tmp"
    python3 scripts/fuzz_corpus_budget.py "$ctl" "$((budget_kb[$t] * 1024))" "$corpus/$t" |
      while IFS= read -r f; do cp "$f" "$tmp/"; done
    rm -rf "${corpus:?}/$t" && mv "$tmp" "$corpus/$t"
    echo "fuzz.sh: $t: $(ls "$corpus/$t" | wc -l) inputs, $(du -sk --apparent-size "$corpus/$t" | cut -f1) KiB" >&2
    continue
  fi
  # Every past finding first (they must pass), then fuzz for the budget.
  "$bin" -rss_limit_mb="$rss" -timeout=60 -detect_leaks=0 tests/fuzz/regressions/* >/dev/null 2>&1 ||
    { echo "fuzz.sh: $t: a regression input fails again (run $bin tests/fuzz/regressions/*)" >&2; status=1; continue; }
  log=$build/fuzz-$t.log
  rm -f "$build/findings/$t-slow-unit-"*
  "$bin" -max_total_time="$time_s" -runs="$runs_arg" -timeout="$timeout" -rss_limit_mb="$rss" -detect_leaks=0 \
    -max_len="$max_len" -print_final_stats=1 -fork="$fork" \
    -artifact_prefix="$build/findings/$t-" "$new" "$corpus/$t" >"$log" 2>&1 &
  pid=$!
  [[ -n $pid_file ]] && echo "$pid" >>"$pid_file"
  if ! wait "$pid"; then
    echo "fuzz.sh: $t: FINDING (see $log and $build/findings/)" >&2
    grep -E "ERROR|SUMMARY" "$log" | head -5 >&2 || true
    status=1
    continue
  fi
  # Without a timeout, the slowest input libFuzzer saw (kept as slow-unit-*)
  # must still pass with one: a pause (SIGSTOP) is not a hang, a real hang is.
  hung=0
  for slow in "$build/findings/$t-slow-unit-"*; do
    [[ -f $slow ]] || continue
    if ! "$bin" -timeout=60 -rss_limit_mb="$rss" "$slow" >>"$log" 2>&1; then
      echo "fuzz.sh: $t: FINDING: $slow hangs or fails when replayed (see $log)" >&2
      hung=1
    fi
  done
  if ((hung)); then status=1; continue; fi
  execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+" || echo "?")
  echo "fuzz.sh: $t: $execs executions, $cov edges, $(ls "$new" | wc -l) new inputs, no finding (log $log)" >&2
done
exit $status
