#!/usr/bin/env bash
# nginx + Lua benchmark (issues #11/#12): requests/s of Debian's nginx with
# libnginx-mod-http-lua under wrk on loopback, untraced vs `ebtrace record --lua`
# at -F 99 and -F 999 vs `perf record -g --call-graph dwarf -F 99` (which cannot
# name Lua frames), side by side in one run: interleaved rounds in random order,
# medians. The workload is samples/lua/handlers.lua: /light and /heavy (3x the
# work), alternated by samples/lua/wrk-alternate.lua, one nginx worker.
#
#   sudo scripts/bench-lua.sh                  # Debian's libluajit2 (GC64)
#   sudo scripts/bench-lua.sh --nogc64         # the same nginx on a non-GC64 LuaJIT
#                                              # (scripts/luajit-nogc64.sh, LD_LIBRARY_PATH)
#   sudo scripts/bench-lua.sh --write-docs     # also replace this benchmark's section
#                                              # of docs/benchmarks.md (between its markers)
#
# For each ebtrace run it also reports the share of Lua samples with a complete,
# validated Lua stack: among the samples taken while the worker ran Lua code
# (a Lua frame, or a VM / JIT-trace frame ebtrace could not replace, above
# ngx_http_lua_run_thread; plus the Lua stacks the recorder lost, from
# `ebtrace info`), those whose Lua frames go from the content_by_lua chunk up
# to a handler of handlers.lua with no VM or trace frame left.
# Knobs (environment): BUILD ROUNDS DURATION CONNS OUT. Raw data stays in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-8}
OUT=${OUT:-bench/out/lua-$(date -u +%Y%m%dT%H%M%SZ)}
nogc64=0 write_docs=0
for a in "$@"; do
  case $a in
    --nogc64) nogc64=1 ;;
    --write-docs) write_docs=1 ;;
    *) echo "usage: $0 [--nogc64] [--write-docs]" >&2; exit 2 ;;
  esac
done

EBT=$PWD/$BUILD/cli/ebtrace
die() { echo "bench-lua: $*" >&2; exit 1; }
log() { echo "bench-lua: $*" >&2; }
[[ $(id -u) -eq 0 ]] || die "needs root (BPF and perf sampling)"
[[ -x $EBT ]] || die "no $EBT: build first (cmake --build $BUILD --target ebtrace)"
for c in nginx wrk curl perf python3; do command -v $c >/dev/null || die "$c not found (scripts/setup-deps.sh --with-tests)"; done
MODS=/usr/lib/nginx/modules
[[ -f $MODS/ngx_http_lua_module.so ]] || die "libnginx-mod-http-lua not installed (scripts/setup-deps.sh --with-tests)"
help=$("$EBT" record --help 2>&1)  # not piped into grep -q: pipefail + SIGPIPE
[[ $help == *--lua* ]] || die "this ebtrace has no record --lua"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

luajit_desc="Debian libluajit2 $(dpkg-query -W -f='${Version}' libluajit2-5.1-2 2>/dev/null) (GC64)"
ld_path=
if ((nogc64)); then
  dir=$(scripts/luajit-nogc64.sh) || die "no non-GC64 LuaJIT (scripts/luajit-nogc64.sh failed)"
  ld_path=$dir
  luajit_desc="luajit2 $(cut -d' ' -f1 "$dir/ok") built with -DLUAJIT_DISABLE_GC64"
fi

# nginx: one worker on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ngx=$OUT/nginx
mkdir -p "$ngx"
cp samples/lua/handlers.lua samples/lua/wrk-alternate.lua "$ngx/"
cat >"$ngx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
load_module $MODS/ndk_http_module.so;
load_module $MODS/ngx_http_lua_module.so;
events { worker_connections 1024; }
http {
  access_log off;
  lua_package_path "$ngx/?.lua;;";
  server {
    listen 127.0.0.1:$port;
    location /light { content_by_lua_block { require("handlers").light() } }
    location /heavy { content_by_lua_block { require("handlers").heavy() } }
  }
}
CONF
LD_LIBRARY_PATH=$ld_path nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" &
master=$!
trap 'kill -QUIT $master 2>/dev/null; wait $master 2>/dev/null || true' EXIT
worker=
for _ in $(seq 500); do
  worker=$(tr -d ' ' <"/proc/$master/task/$master/children" 2>/dev/null || true)
  [[ -n $worker ]] && curl -sf -o /dev/null "http://127.0.0.1:$port/light" && break
  sleep 0.02
done
[[ -n $worker ]] || die "nginx did not start: $(cat "$ngx/error.log")"
if ((nogc64)); then
  grep -q "$ld_path/libluajit" "/proc/$worker/maps" || die "the worker did not load $ld_path/libluajit-5.1.so.2"
fi
wrk -t1 -c"$CONNS" -d2s -s "$ngx/wrk-alternate.lua" "http://127.0.0.1:$port" >/dev/null  # warm-up (JIT traces)

# rus FILE CMD...: runs CMD, writes the CPU seconds of it and its descendants to
# FILE. (bash's `times`: under a python wrapper perf record -p took no samples.)
rus() {
  local f=$1
  shift
  (
    rc=0
    "$@" || rc=$?
    times >"$f.times"  # not in a pipeline: that would be a subshell without children
    tail -1 "$f.times" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
                               printf "%.3f\n", t }' >"$f"
    exit $rc
  )
}

printf 'round\tconfig\treq_s\tsamples\tlost\trec_cpu_s\tbytes\tlua_all\tlua_complete\n' >"$OUT/runs.tsv"
run_config() {  # config round
  local c=$1 r=$2 rec_pid= file= samples=0 lost=0 cpu=0 bytes=0 all=0 complete=0
  local rec_s=$((DURATION + 2))
  rm -f "$OUT/r.ebt" "$OUT/r.data"
  case $c in
    ebt99|ebt999)
      file=$OUT/r.ebt
      rus "$OUT/cpu.txt" "$EBT" record --lua -F "${c#ebt}" -p "$worker" -d "$rec_s" -o "$file" \
        --ready-file "$OUT/ready" >"$OUT/rec.out" 2>"$OUT/rec.err" &
      rec_pid=$! ;;
    perf99)
      file=$OUT/r.data
      rus "$OUT/cpu.txt" perf record -g --call-graph dwarf -F 99 -p "$worker" -o "$file" -- sleep "$rec_s" \
        >"$OUT/rec.out" 2>"$OUT/rec.err" &
      rec_pid=$! ;;
  esac
  if [[ $c == ebt* ]]; then
    for _ in $(seq 1000); do [[ -e $OUT/ready ]] && break; sleep 0.01; done
    rm -f "$OUT/ready"
  elif [[ -n $rec_pid ]]; then
    sleep 1  # perf has no ready signal
  fi
  wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$ngx/wrk-alternate.lua" "http://127.0.0.1:$port" >"$OUT/wrk.out"
  local req_s
  req_s=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk.out")
  if [[ -n $rec_pid ]]; then
    wait "$rec_pid" || { cat "$OUT/rec.err" >&2; die "$c: recorder failed"; }
    cpu=$(cat "$OUT/cpu.txt")
    bytes=$(stat -c %s "$file")
  fi
  case $c in
    ebt*)
      samples=$(sed -n 's/.*ebtrace record: \([0-9]*\) samples.*/\1/p' "$OUT/rec.err")
      lost=$(sed -n 's/.* \([0-9]*\) lost.*/\1/p' "$OUT/rec.err" | head -1)
      "$EBT" report "$file" --folded >"$OUT/r.folded"
      "$EBT" info "$file" >"$OUT/r.info" 2>&1 || true
      read -r all complete < <(python3 - "$OUT/r.folded" "$OUT/r.info" <<'PY'
import re, sys
folded, info = sys.argv[1], sys.argv[2]
def is_lua(f):
    return f[:1] in "@=" or f.startswith("builtin#") or f.startswith("[trace ") or f in ("[GC]", "[JIT compiler]")
def is_vm(f):  # VM or JIT-trace code ebtrace did not replace by Lua frames
    return f.startswith("[anon") or f.startswith("[libluajit") or f.startswith("lj_vm_") or f.startswith("lj_BC_")
all_ = complete = 0
for line in open(folded):
    stack, _, n = line.rstrip("\n").rpartition(" ")
    if not stack: continue
    n = int(n)
    frames = [re.sub(r"_\[[kijl]\]$", "", f) for f in stack.split(";")]
    try:
        rt = max(i for i, f in enumerate(frames) if f.startswith("ngx_http_lua_run_thread"))
    except ValueError:
        continue
    above = frames[rt + 1:]
    lua = [f for f in above if is_lua(f)]
    if not lua and not any(is_vm(f) for f in above): continue  # nginx / lua_resume C code, not Lua
    all_ += n
    funcs = [f for f in lua if f[:1] in "@="]
    if (funcs and funcs[0].startswith("=content_by_lua(") and any("handlers.lua:" in f for f in funcs)
            and not any(is_vm(f) for f in above)):
        complete += n
# Lua stacks the recorder lost were Lua samples too (ebtrace info counts them;
# inconsistent walks are cut and kept, so they are in the folded stacks already).
m = re.search(r"lua walks:.*?([0-9]+) Lua stacks lost", open(info).read())
if m: all_ += int(m.group(1))
print(all_, complete)
PY
) ;;
    perf*)
      samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$OUT/rec.err")
      [[ -n $samples ]] || die "perf recorded no samples: $(tail -2 "$OUT/rec.err")" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "${req_s:-0}" "${samples:-0}" "${lost:-0}" "$cpu" "$bytes" \
    "$all" "$complete" >>"$OUT/runs.tsv"
  cat "$OUT/rec.err" >>"$OUT/runs.log" 2>/dev/null || true
}

configs=(untraced ebt99 ebt999 perf99)
log "$ROUNDS rounds of ${configs[*]}, wrk -c$CONNS ${DURATION}s each, nginx worker $worker, $luajit_desc"
for r in $(seq 1 "$ROUNDS"); do
  for c in $(printf '%s\n' "${configs[@]}" | shuf); do run_config "$c" "$r"; done
  log "  round $r done"
done

md=$OUT/summary.md
python3 - "$OUT" "$ROUNDS" "$DURATION" "$CONNS" "$luajit_desc" "$(nproc)" "$(uname -r)" >"$md" <<'PY'
import csv, statistics as st, sys
out, rounds, dur, conns, lj, ncpu, kernel = sys.argv[1:]
rows = list(csv.DictReader(open(f"{out}/runs.tsv"), delimiter="\t"))
by = {}
for r in rows: by.setdefault(r["config"], []).append(r)
def med(c, k): return st.median(float(r[k]) for r in by[c])
base = med("untraced", "req_s")
print(f"nginx 1 worker + libnginx-mod-http-lua, {lj}; wrk -t1 -c{conns} for {dur} s per run on loopback, "
      f"/light and /heavy alternated (samples/lua/handlers.lua); medians of {rounds} interleaved rounds; "
      f"{ncpu} CPUs, kernel {kernel}.\n")
print("| recorder | requests/s | vs untraced | samples | lost | recorder CPU | capture | Lua samples with a complete Lua stack |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
names = {"untraced": "none", "ebt99": "`ebtrace record --lua -F 99`", "ebt999": "`ebtrace record --lua -F 999`",
         "perf99": "`perf record -g --call-graph dwarf -F 99` (no Lua names)"}
for c in ("untraced", "ebt99", "ebt999", "perf99"):
    if c not in by: continue
    q = med(c, "req_s")
    line = f"| {names[c]} | {q:,.0f} | {(q / base - 1) * 100:+.1f} % |"
    if c == "untraced":
        print(line + " | | | | |"); continue
    lua = ""
    if c.startswith("ebt"):
        shares = [float(r["lua_complete"]) / float(r["lua_all"]) for r in by[c] if float(r["lua_all"]) > 0]
        alls = sum(float(r["lua_all"]) for r in by[c])
        lua = f"{st.median(shares) * 100:.1f} % (of {alls:,.0f} over all rounds)" if shares else "no Lua samples"
    print(f"{line} {med(c, 'samples'):,.0f} | {med(c, 'lost'):,.0f} | {med(c, 'rec_cpu_s'):.2f} s "
          f"| {med(c, 'bytes') / 1e6:.2f} MB | {lua} |")
PY
cat "$md"
log "raw data in $OUT"

if ((write_docs)); then
  section=$( ((nogc64)) && echo lua-nogc64 || echo lua-gc64 )
  python3 - docs/benchmarks.md "$section" "$md" "$(date -u +%Y-%m-%d)" "$( ((nogc64)) && echo ' --nogc64')" <<'PY'
import sys
path, section, md, day, flag = sys.argv[1:]
begin, end = f"<!-- bench-lua:{section}:begin -->", f"<!-- bench-lua:{section}:end -->"
body = f"{begin}\n`sudo scripts/bench-lua.sh{flag}` ({day}):\n\n{open(md).read().strip()}\n{end}"
doc = open(path).read()
if begin in doc and end in doc:
    doc = doc[:doc.index(begin)] + body + doc[doc.index(end) + len(end):]
else:
    if "## LuaJIT (nginx + Lua" not in doc:
        doc = doc.rstrip("\n") + "\n\n## LuaJIT (nginx + Lua, `record --lua`)\n\nTargets (issues #11, #12): at most 2 % " \
              "fewer requests/s at -F 99; at least 95 % of Lua samples with a complete, validated Lua stack.\n"
    doc = doc.rstrip("\n") + "\n\n" + body + "\n"
open(path, "w").write(doc)
PY
  log "docs/benchmarks.md: section $section written"
fi
