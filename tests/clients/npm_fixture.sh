#!/usr/bin/env bash
# Installs, once, the npm packages the speedscope tests need into a cache
# outside the tree and prints its node_modules directory:
#   speedscope@1.25.0   the web app (dist/release) and its file-format-schema.json
#   ajv@8.20.0          the JSON Schema validator
#
#   tests/clients/npm_fixture.sh [CACHE_ROOT]   (default $EBTRACE_CACHE or /var/cache/ebtrace)
#
# Exit 3 with the reason when npm or the registry is unreachable; 1 otherwise.
set -euo pipefail

cache_root=${1:-${EBTRACE_CACHE:-/var/cache/ebtrace}}
pkgs=(speedscope@1.25.0 ajv@8.20.0)
out="$cache_root/npm-speedscope-1.25.0-ajv-8.20.0"
if [[ -f "$out/ok" ]]; then echo "$out/node_modules"; exit 0; fi
command -v npm >/dev/null || { echo "npm_fixture: npm not found (scripts/setup-deps.sh --with-tests)" >&2; exit 3; }

mkdir -p "$cache_root"
exec 9>"$out.lock"
flock 9  # one install at a time (tests may ask concurrently)
if [[ -f "$out/ok" ]]; then echo "$out/node_modules"; exit 0; fi
rm -rf "$out"
mkdir -p "$out"
echo '{"name":"ebtrace-test-fixture","private":true}' >"$out/package.json"
if ! (cd "$out" && npm install --no-audit --no-fund --ignore-scripts --cache "$out/.npm-cache" \
        "${pkgs[@]}" >"$out/npm.log" 2>&1); then
  echo "npm_fixture: npm install ${pkgs[*]} failed: $(grep -m1 -iE 'err' "$out/npm.log" || tail -1 "$out/npm.log")" >&2
  exit 3
fi
rm -rf "$out/.npm-cache"
[[ -f "$out/node_modules/speedscope/dist/release/file-format-schema.json" ]] ||
  { echo "npm_fixture: speedscope has no dist/release/file-format-schema.json" >&2; exit 1; }
touch "$out/ok"
echo "$out/node_modules"
