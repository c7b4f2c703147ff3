#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite.
# As root with EBTRACE_REQUIRE_BPF=1 (what .ci/run does) the eBPF tests must run;
# otherwise they skip with a reason.
#
# Then the hostile-input stage (docs/security.md): a clang ASan + UBSan build of
# everything in build-asan/ (tests and fuzz targets), the tests that need no BPF
# run under the sanitizers, and each fuzz target for a short fixed budget over
# its committed corpus. EBTRACE_SANITIZERS=1 runs that stage (not yet part of CI:
# it has not yet had one complete sanitized run of the whole current suite;
# docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh --with-tests
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure --timeout 600 "$@"

if [[ "${EBTRACE_SANITIZERS:-0}" != 0 ]]; then
  stage_start=$SECONDS
  CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEBTRACE_SANITIZE=ON -DEBTRACE_FUZZ=ON -DEBTRACE_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)"
  # Leaks are not this stage's subject (libbpf and Cap'n Proto keep some on purpose);
  # every memory error and undefined behaviour aborts the test.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The BPF end-to-end tests record real workloads for minutes: too slow under
  # ASan for CI (docs/security.md); packaging (dist: the .deb of this build) is
  # the plain build's subject; so are the peak-RSS bounds (scale: ASan's allocator
  # does not keep them); everything else runs sanitized.
  ctest --test-dir build-asan --output-on-failure --timeout 900 -LE "bpf|dist|scale" "$@"
  ./scripts/fuzz.sh --ci --build build-asan
  echo "test.sh: sanitizer and fuzz stage: $((SECONDS - stage_start)) s" >&2
fi
