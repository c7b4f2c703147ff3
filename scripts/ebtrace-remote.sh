#!/usr/bin/env bash
# Records on another machine over ssh and streams the capture here.
#
#   scripts/ebtrace-remote.sh [-o FILE] [-e EBTRACE] [--no-sudo] HOST [SSH OPTIONS...] -- RECORD ARGS...
#
#   scripts/ebtrace-remote.sh -o web1.ebt web1 -- -F 99 -a -d 30
#   scripts/ebtrace-remote.sh -o redis.ebt admin@db2 -p 2222 -- --l7 -p 4242 -d 10
#
# The remote side runs `sudo ebtrace record -o - RECORD ARGS` (ebtrace installed there, or
# -e PATH); the capture arrives on ssh's stdout into FILE (default capture.ebt, mode 0600),
# the recorder's summary line and errors on stderr (RECORD ARGS take no -o). Give -d: an interrupted ssh session
# leaves a capture without its end (report still reads what arrived, and says so).
# Exit code: ebtrace's, 255 when ssh itself failed, 2 for bad arguments here.
set -euo pipefail

out=capture.ebt
ebtrace=ebtrace
sudo=sudo
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    -o) out=${2:?-o needs a file}; shift 2 ;;
    -e) ebtrace=${2:?-e needs a path}; shift 2 ;;
    --no-sudo) sudo=; shift ;;
    -h|--help) usage ;;
    -*) echo "ebtrace-remote: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
(($#)) || usage
host=$1
shift
ssh_opts=()
while (($#)) && [[ $1 != -- ]]; do ssh_opts+=("$1"); shift; done
[[ ${1:-} == -- ]] || { echo "ebtrace-remote: missing -- before the record arguments" >&2; exit 2; }
shift
(($#)) || { echo "ebtrace-remote: no record arguments (give at least -d SECONDS)" >&2; exit 2; }

remote=$(printf "%q " $sudo "$ebtrace" record -o - "$@")  # -o first: the args may end with -- CMD
umask 077
tmp="$out.partial"
set +e
ssh -o BatchMode=yes "${ssh_opts[@]}" "$host" "$remote" >"$tmp"
rc=$?
set -e
if ((rc != 0)); then
  [[ -s $tmp ]] && mv "$tmp" "$out" && echo "ebtrace-remote: kept what arrived in $out" >&2 || rm -f "$tmp"
  exit "$rc"
fi
mv "$tmp" "$out"
echo "ebtrace-remote: capture in $out ($(stat -c %s "$out") bytes); next: ebtrace report $out" >&2
