#!/usr/bin/env bash
# usage: unshare --net with_debuginfod.sh SCANDIR WORKDIR BUILDID... -- CMD [ARGS...]
#
# Runs a private debuginfod serving the ELF/DWARF files under SCANDIR, waits
# until it serves the debuginfo of every BUILDID, then runs CMD with
# DEBUGINFOD_URLS pointing at it and a fresh DEBUGINFOD_CACHE_PATH
# (WORKDIR/cache). Meant to run in a new network namespace: debuginfod has no
# option to bind to loopback only, so it listens in a namespace that has
# nothing but lo. Exits with CMD's status (or 3 if the server never came up).
set -euo pipefail
scandir=$1 work=$2
shift 2
ids=()
while [[ $# -gt 0 && $1 != -- ]]; do ids+=("$1"); shift; done
shift  # --
ip link set lo up
port=8002
url=http://127.0.0.1:$port
debuginfod -F -p "$port" -d "$work/debuginfod.sqlite" "$scandir" >"$work/debuginfod.log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null || true' EXIT
for id in "${ids[@]}"; do
  ok=
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$url/buildid/$id/debuginfo"; then ok=1; break; fi
    sleep 0.1
  done
  if [[ -z $ok ]]; then
    echo "with_debuginfod: debuginfod never served $id; log:" >&2
    tail -20 "$work/debuginfod.log" >&2
    exit 3
  fi
done
mkdir -p "$work/cache"
set +e
DEBUGINFOD_URLS=$url DEBUGINFOD_CACHE_PATH=$work/cache "$@"
rc=$?
exit $rc
