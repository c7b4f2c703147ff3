#!/usr/bin/env bash
# Man pages from the --help texts: ebtrace(1) and ebtrace-SUBCOMMAND(1), gzipped
# (Debian policy). help2man reads the text; the SEE ALSO sections are added here.
#
#   packaging/make-man.sh EBTRACE VERSION OUTDIR
set -euo pipefail
ebtrace=$(realpath "$1") version=$2 outdir=$3
command -v help2man >/dev/null || { echo "make-man: help2man is not installed (apt-get install help2man)" >&2; exit 1; }
mkdir -p "$outdir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A what=(
  [ebtrace]="an eBPF record-and-replay tracer"
  [record]="record on-CPU stacks, off-CPU intervals, packet hops, syscall payloads into a capture"
  [report]="flame graphs, tables and trace JSON from a capture"
  [info]="summary of a capture file"
  [dump]="every record of a capture as JSON lines"
)
see_also="ebtrace(1), ebtrace-record(1), ebtrace-report(1), ebtrace-info(1), ebtrace-dump(1), perf(1)"
for sub in ebtrace record report info dump; do
  if [[ $sub == ebtrace ]]; then name=ebtrace; args=(); else name=ebtrace-$sub; args=("$sub"); fi
  # help2man names the page after the program it runs: a wrapper per subcommand.
  printf '#!/bin/sh\nexec %q %s "$@"\n' "$ebtrace" "${args[*]:-}" >"$work/$name"
  chmod +x "$work/$name"
  printf '[SEE ALSO]\n%s\n\nFull documentation: /usr/share/doc/ebtrace/README.md and /usr/share/doc/ebtrace/docs/.\n' \
    "${see_also/$name(1), /}" >"$work/$name.h2m"
  help2man --no-info --no-discard-stderr --section=1 --version-string="$version" \
    --name="${what[$sub]}" --include="$work/$name.h2m" --output="$work/$name.1" "$work/$name"
  gzip -9n <"$work/$name.1" >"$outdir/$name.1.gz"
done
