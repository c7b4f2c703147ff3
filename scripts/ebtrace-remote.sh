#!/usr/bin/env bash
# Records on one or several machines over ssh, in parallel, and brings each capture here.
#
#   scripts/ebtrace-remote.sh [OPTIONS] HOST... [SSH OPTIONS...] -- RECORD ARGS...
#
#   scripts/ebtrace-remote.sh -o web1.ebt web1 -- -F 99 -a -d 30
#   scripts/ebtrace-remote.sh -o caps web1 web2 admin@db2:2222 -- -F 99 -a -d 30
#
# HOST is [user@]host[:port]; SSH OPTIONS (-i KEY, -o Opt=v, ...) apply to every host.
# Every host records with the same RECORD ARGS (no -o there; give -d, or stop with Ctrl-C).
#   -o PATH      one host: the capture file (default capture.ebt); several hosts: a
#                directory (default .) that gets HOST.ebt per host (user@ dropped,
#                :port written _port)
#   -e EBTRACE   ebtrace on the hosts (default: ebtrace from the ssh user's PATH)
#   -b BINARY    static ebtrace to copy to a host that has no EBTRACE (default:
#                $EBTRACE_STATIC, else build/ebtrace-static of this tree; make one with
#                scripts/build-static.sh). It goes to a mktemp -d directory there and
#                is removed when that host's recording ends.
#   --no-sudo    run ebtrace as the ssh user (who is root already)
#   --no-check   skip `ebtrace record --check` (kernel requirements) before recording
# Per host: the kernel check (a line per missing capability), then the recording; the
# capture arrives through ssh (mode 0600), and one line says how the host did.
# Ctrl-C or SIGTERM stops every remote recorder cleanly (their captures are completed
# and kept); if this script dies, each recorder stops when its ssh stdin closes.
# Exit code: one host: ebtrace's (255: ssh failed, 127: no ebtrace there and nothing to
# copy); several: 0 when every host succeeded, else the code of the first failing host
# in argument order; 2: bad arguments here.
set -euo pipefail

out=
ebtrace=ebtrace
static_bin=${EBTRACE_STATIC:-}
sudo=sudo
check=1
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    -o) out=${2:?-o needs a path}; shift 2 ;;
    -e) ebtrace=${2:?-e needs a path}; shift 2 ;;
    -b) static_bin=${2:?-b needs a file}; shift 2 ;;
    --no-sudo) sudo=; shift ;;
    --no-check) check=0; shift ;;
    -h|--help) usage ;;
    -*) echo "ebtrace-remote: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
hosts=()
while (($#)) && [[ $1 != -* ]]; do hosts+=("$1"); shift; done
((${#hosts[@]})) || usage
ssh_opts=()
while (($#)) && [[ $1 != -- ]]; do ssh_opts+=("$1"); shift; done
[[ ${1:-} == -- ]] || { echo "ebtrace-remote: missing -- before the record arguments" >&2; exit 2; }
shift
(($#)) || { echo "ebtrace-remote: no record arguments (give at least -d SECONDS)" >&2; exit 2; }
record_args=("$@")
if [[ -z $static_bin ]]; then
  static_bin=$(cd "$(dirname "$0")/.." && pwd)/build/ebtrace-static
fi

# Where each host's capture goes, named by host.
declare -A seen=()
files=()
name_of() { local n=${1#*@}; echo "${n//:/_}"; }
if ((${#hosts[@]} == 1)) && ! [[ -d ${out:-capture.ebt} ]]; then
  files=("${out:-capture.ebt}")
else
  dir=${out:-.}
  mkdir -p "$dir"
  for h in "${hosts[@]}"; do files+=("$dir/$(name_of "$h").ebt"); done
fi
for f in "${files[@]}"; do
  [[ -z ${seen[$f]:-} ]] || { echo "ebtrace-remote: two hosts would write $f" >&2; exit 2; }
  seen[$f]=1
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ebtrace-remote.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077

q() { printf '%q ' "$@"; }

# One host, start to end; runs in the background. Its exit code lands in $work/N.rc.
record_host() {
  local i=$1 target=${hosts[$1]} file=${files[$1]}
  local host=$target port=
  if [[ $target =~ ^(.*[^:]):([0-9]+)$ ]]; then host=${BASH_REMATCH[1]}; port=${BASH_REMATCH[2]}; fi
  local ssh=(ssh -o BatchMode=yes "${ssh_opts[@]}" ${port:+-p "$port"} "$host")
  local rc=0 bin=$ebtrace dir=

  # ebtrace there? Else copy the static binary to a fresh temporary directory.
  local found
  found=$("${ssh[@]}" "command -v $(q "$ebtrace") >/dev/null && echo found || echo missing" </dev/null) || rc=$?
  if ((rc != 0)); then echo "ssh failed (exit $rc)" >&2; echo "$rc" >"$work/$i.rc"; return; fi
  if [[ $found != found ]]; then
    if ! [[ -f $static_bin ]]; then
      echo "no $ebtrace on $target and no static binary to copy ($static_bin missing: run scripts/build-static.sh or pass -b)" >&2
      echo 127 >"$work/$i.rc"; return
    fi
    dir=$("${ssh[@]}" 'd=$(mktemp -d /tmp/ebtrace-remote.XXXXXX) && cat >"$d/ebtrace" && chmod 755 "$d" "$d/ebtrace" && echo "$d"' \
          <"$static_bin") || rc=$?
    if ((rc != 0)) || [[ -z $dir ]]; then
      echo "copying $static_bin failed (exit $rc)" >&2
      echo "$((rc ? rc : 1))" >"$work/$i.rc"; return
    fi
    bin=$dir/ebtrace
    echo "copied $(basename "$static_bin") to $target:$bin (removed when the recording ends)" >&2
  fi
  if [[ -e $work/stop ]]; then  # interrupted before the recording started
    [[ -z $dir ]] || "${ssh[@]}" "rm -rf $(q "$dir")" </dev/null || true
    echo "stopped before recording" >&2; echo 130 >"$work/$i.rc"; return
  fi

  # Remote side: the check, then the recorder in the background and a watchdog that
  # stops it (SIGINT: it completes the capture) when ssh's stdin closes, i.e. when
  # this script asks for it or dies. The copied binary goes when the recorder ends;
  # nothing is written to stdout/stderr after that, so a vanished ssh cannot stop it.
  local run_check=
  ((check)) && run_check="out=\$($sudo \"\$bin\" record --check $(q "${record_args[@]}") 2>&1) || {
  rc=\$?; printf '%s\n' \"\$out\" | grep -v '^ok \\|^missing ' >&2; [ -z \"\$d\" ] || rm -rf \"\$d\"; exit \$rc; }"
  local remote="d=$(q "$dir"); bin=$(q "$bin")
$run_check
exec 3<&0
$sudo \"\$bin\" record -o - $(q "${record_args[@]}") </dev/null &
pid=\$!
{ cat <&3 >/dev/null; kill -INT \$pid; } >/dev/null 2>&1 &
w=\$!
exec 3<&-
wait \$pid; rc=\$?
kill \$w 2>/dev/null
[ -z \"\$d\" ] || rm -rf \"\$d\"
exit \$rc"
  rc=0
  "${ssh[@]}" "$remote" <"$work/$i.in" >"$file.partial" || rc=$?
  if ((rc != 0)); then
    if [[ -s $file.partial ]]; then
      mv "$file.partial" "$file"
      echo "failed (exit $rc); kept what arrived in $file" >&2
    else
      rm -f "$file.partial"
      echo "failed (exit $rc)" >&2
    fi
  else
    mv "$file.partial" "$file"
  fi
  echo "$rc" >"$work/$i.rc"
}

workers=()
for i in "${!hosts[@]}"; do
  mkfifo "$work/$i.in"
  (
    trap '' INT TERM  # the main script stops the recorders; ssh keeps these ignored
    record_host "$i"
  ) 2> >(sed -u "s/^/ebtrace-remote: $(name_of "${hosts[$i]}"): /" >&2) &
  workers+=($!)
done
# Our ends of the ssh stdin pipes (read-write, so opening never blocks); forked
# workers do not inherit them, so closing them here is what the watchdogs see.
fds=()
for i in "${!hosts[@]}"; do exec {fd}<>"$work/$i.in"; fds+=("$fd"); done

stop_all() {
  [[ -e $work/stop ]] && return
  : >"$work/stop"
  echo "ebtrace-remote: stopping the recorders (their captures are completed)" >&2
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  # Should a host not answer, end its ssh after a grace period: the watchdog there
  # sees the closed connection just the same.
  ( for _ in {1..600}; do sleep 0.1; done; for p in "${workers[@]}"; do pkill -KILL -P "$p" -x ssh; done ) >/dev/null 2>&1 &
  reaper=$!
}
reaper=
trap stop_all INT TERM

for p in "${workers[@]}"; do
  while kill -0 "$p" 2>/dev/null; do wait "$p" || true; done
done
[[ -e $work/stop ]] || for fd in "${fds[@]}"; do exec {fd}>&-; done
[[ -z $reaper ]] || kill "$reaper" 2>/dev/null || true

status=0
for i in "${!hosts[@]}"; do
  rc=$(cat "$work/$i.rc" 2>/dev/null || echo 1)
  name=$(name_of "${hosts[$i]}")
  if ((rc == 0)); then
    echo "ebtrace-remote: $name: ok, capture in ${files[$i]} ($(stat -c %s "${files[$i]}") bytes)" >&2
  else
    echo "ebtrace-remote: $name: failed, exit $rc" >&2
    ((status != 0)) || status=$rc
  fi
done
if ((status == 0)); then
  echo "ebtrace-remote: next: ebtrace report ${files[*]}" >&2
fi
exit "$status"
