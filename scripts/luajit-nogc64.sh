#!/usr/bin/env bash
# Builds Debian's own LuaJIT (source package luajit2, the version installed) as
# a non-GC64 VM (-DLUAJIT_DISABLE_GC64, with -g), once, into a cache outside the
# tree, and prints the directory that holds it:
#   DIR/luajit                  the CLI (VM linked in, full symbols)
#   DIR/libluajit-5.1.so.2      the shared library (same soname as Debian's)
#   DIR/jit/*.lua               jit.* modules (-jp, -jv, vmdef)
# Used by tests/lua (issue #12) and scripts/bench-lua.sh --nogc64.
#
#   scripts/luajit-nogc64.sh [CACHE_ROOT]   (default $EBTRACE_CACHE or /var/cache/ebtrace)
#
# The source comes from Debian's archive through a private apt configuration
# (deb-src lists in a temporary directory; nothing system-wide changes). Exit 3
# with the reason when the source cannot be fetched; 1 on any other failure.
set -euo pipefail

cache_root=${1:-${EBTRACE_CACHE:-/var/cache/ebtrace}}
version=$(dpkg-query -W -f='${Version}' libluajit2-5.1-2 2>/dev/null || true)
if [[ -z "$version" ]]; then
  echo "luajit-nogc64: libluajit2-5.1-2 is not installed (scripts/setup-deps.sh --with-tests)" >&2
  exit 3
fi
out="$cache_root/luajit2-nogc64-$version"
if [[ -f "$out/ok" ]]; then echo "$out"; exit 0; fi

mkdir -p "$cache_root"
exec 9>"$out.lock"
flock 9  # one build at a time (tests may ask concurrently)
if [[ -f "$out/ok" ]]; then echo "$out"; exit 0; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/luajit-nogc64.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A private apt configuration with deb-src lines for this release.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
mirror=${EBTRACE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$keyring] $mirror $codename main" >"$work/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
          -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
if ! apt-get "${apt_opts[@]}" -qq update >"$work/apt.log" 2>&1; then
  echo "luajit-nogc64: cannot fetch Debian's source lists from $mirror ($codename):" \
       "$(grep -m1 -E '^(E|W|Err):' "$work/apt.log" || tail -1 "$work/apt.log")" >&2
  exit 3
fi
if ! (cd "$work" && apt-get "${apt_opts[@]}" -qq source --download-only "luajit2=$version" >>"$work/apt.log" 2>&1); then
  echo "luajit-nogc64: cannot fetch source package luajit2=$version:" \
       "$(grep -m1 -E '^(E|W|Err):' "$work/apt.log" || tail -1 "$work/apt.log")" >&2
  exit 3
fi
dsc=$(ls "$work"/luajit2_*.dsc | head -1)
dpkg-source --no-check -x "$dsc" "$work/src" >"$work/dpkg-source.log" 2>&1 ||
  { cat "$work/dpkg-source.log" >&2; exit 1; }

# Debian's build with GC64 turned off (amalgamated like debian/rules, -g).
echo "luajit-nogc64: building luajit2 $version without GC64 (about 2 min)" >&2
make -C "$work/src" -j2 amalg CCDEBUG=-g XCFLAGS=-DLUAJIT_DISABLE_GC64 PREFIX=/usr >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log" >&2; exit 1; }

rm -rf "$out.tmp"
mkdir -p "$out.tmp/jit"
cp "$work/src/src/luajit" "$out.tmp/luajit"
cp "$work/src/src/libluajit.so" "$out.tmp/libluajit-5.1.so.2"
cp "$work/src/src/jit/"*.lua "$out.tmp/jit/"
# The VM must really be non-GC64.
if ! LUA_PATH="$out.tmp/?.lua;;" "$out.tmp/luajit" -e 'assert(require("ffi").abi("gc64") == false, "still GC64")'; then
  echo "luajit-nogc64: the build is GC64 after all" >&2
  exit 1
fi
echo "$version -DLUAJIT_DISABLE_GC64 CCDEBUG=-g" >"$out.tmp/ok"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
