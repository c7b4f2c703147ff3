#!/usr/bin/env bash
# Re-runs every case of tests/golden/cases on the committed golden captures and
# compares the outputs byte for byte with expected/ (no root, no BPF, no network).
#
#   tests/golden/check.sh EBTRACE               # compare (the ctest `golden`)
#   tests/golden/check.sh EBTRACE --update      # rewrite expected/ (regenerate.sh)
#
# --update runs every case twice and refuses outputs that differ between the two
# runs: a golden output must be deterministic.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ebtrace=$(realpath "${1:?usage: check.sh EBTRACE [--update]}")
mode=${2:-check}
export LC_ALL=C TZ=UTC
unset DEBUGINFOD_URLS EBTRACE_TIMING

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ebt-golden-check-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# run_cases DEST: every case's outputs into DEST/CAPTURE/OUTPUT(.log).
run_cases() {
  local dest=$1 cap name arg
  while read -r cap name rest; do
    [[ -z $cap || $cap == \#* ]] && continue
    local work="$tmp/work"
    rm -rf "$work"; mkdir -p "$work" "$dest/$cap"
    ln -s "$here/$cap.ebt" "$work/$cap.ebt"
    local args=() uses_file=0
    for arg in $rest; do
      case $arg in
        '{}') args+=("$cap.ebt") ;;
        '{out}') args+=("$name"); uses_file=1 ;;
        *) args+=("$arg") ;;
      esac
    done
    (cd "$work" && "$ebtrace" "${args[@]}" >"$work/.stdout" 2>"$work/.stderr"; echo "exit $?" >"$work/.status")
    {
      cat "$work/.status" "$work/.stderr"
      if [[ $uses_file == 1 ]]; then
        cat "$work/.stdout"
      fi
    } >"$dest/$cap/$name.log"
    if [[ $uses_file == 1 ]]; then
      if [[ -f $work/$name ]]; then cp "$work/$name" "$dest/$cap/$name"; else : >"$dest/$cap/$name.missing"; fi
    else
      cp "$work/.stdout" "$dest/$cap/$name"
    fi
  done <"$here/cases"
}

if [[ $mode == --update ]]; then
  run_cases "$tmp/a"
  run_cases "$tmp/b"
  if ! diff -r "$tmp/a" "$tmp/b" >"$tmp/nondet.diff"; then
    echo "golden: outputs differ between two runs on the same capture (not deterministic):" >&2
    head -40 "$tmp/nondet.diff" >&2
    exit 1
  fi
  rm -rf "$here/expected"
  cp -r "$tmp/a" "$here/expected"
  echo "golden: expected outputs rewritten under $here/expected; review them with git diff" >&2
  exit 0
fi

run_cases "$tmp/actual"
failed=0
while IFS= read -r -d '' f; do
  rel=${f#"$here/expected/"}
  if [[ ! -e $tmp/actual/$rel ]]; then
    echo "golden: FAIL $rel: no longer produced" >&2; failed=1
  elif ! cmp -s "$f" "$tmp/actual/$rel"; then
    echo "golden: FAIL $rel differs (expected vs now):" >&2
    diff -u --label "expected/$rel" --label "now/$rel" "$f" "$tmp/actual/$rel" | head -60 >&2
    failed=1
  fi
done < <(find "$here/expected" -type f -print0 | sort -z)
while IFS= read -r -d '' f; do
  rel=${f#"$tmp/actual/"}
  [[ -e $here/expected/$rel ]] || { echo "golden: FAIL $rel: new output without an expected file" >&2; failed=1; }
done < <(find "$tmp/actual" -type f -print0 | sort -z)
if [[ $failed != 0 ]]; then
  echo "golden: outputs changed. If the change is intended, run tests/golden/regenerate.sh BUILD_DIR/ebtrace and commit the reviewed expected/ diff." >&2
  exit 1
fi
echo "golden: $(find "$here/expected" -type f | wc -l) outputs identical" >&2
