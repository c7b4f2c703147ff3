#!/usr/bin/env bash
# Rewrites tests/golden/expected/ from the committed captures, for an INTENDED
# change of output only: review `git diff tests/golden/expected` before committing.
#   tests/golden/regenerate.sh build/ebtrace
set -euo pipefail
exec "$(dirname "$0")/check.sh" "${1:?usage: regenerate.sh EBTRACE}" --update
