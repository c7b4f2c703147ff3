#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite.
# As root with EBTRACE_REQUIRE_BPF=1 (what .ci/run does) the eBPF tests must run;
# otherwise they skip with a reason.
#
# Then the hostile-input stage (docs/security.md): a clang ASan + UBSan build of
# everything in build-asan/ (tests and fuzz targets), every test but the BPF
# recordings and the packaging test again under the sanitizers, and each fuzz
# target for a short fixed budget over its committed corpus. EBTRACE_SANITIZERS=0
# leaves the stage out (a quicker local run; CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh --with-tests
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure --timeout 600 "$@"

if [[ "${EBTRACE_SANITIZERS:-1}" != 0 ]]; then
  stage_start=$SECONDS
  CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEBTRACE_SANITIZE=ON -DEBTRACE_FUZZ=ON -DEBTRACE_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)"
  echo "test.sh: sanitizer build: $((SECONDS - stage_start)) s" >&2
  # Leaks are not this stage's subject (libbpf and Cap'n Proto keep some on purpose);
  # every memory error and undefined behaviour aborts the test.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Everything but (docs/security.md, "Sanitizer stage"):
  # * the BPF recordings (label bpf): the plain build above runs them. Under ASan
  #   the recorder is 2-3x slower and their bounds on what a recording of a few
  #   seconds catches (samples of cpuburn, shares of blocked time, a rotation
  #   within its timeout) failed on the loaded machine, with no sanitizer report;
  # * the Debian package test (label dist): it builds, lints and installs the
  #   .deb of this build directory, and an ASan build is not what ships.
  # The static binary's tests are not registered here (no ebtrace-static).
  ctest --test-dir build-asan --output-on-failure --timeout 900 -LE "bpf|dist" "$@"
  echo "test.sh: sanitized tests done at $((SECONDS - stage_start)) s" >&2
  ./scripts/fuzz.sh --ci --build build-asan
  echo "test.sh: sanitizer and fuzz stage: $((SECONDS - stage_start)) s" >&2
fi
