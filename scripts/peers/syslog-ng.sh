#!/usr/bin/env bash
# Install syslog-ng beside rsyslog for test/sinks/syslog/syslog-ng.test.ts, without dpkg -i:
# Debian's syslog-ng-core and rsyslog conflict (both provide system-log-daemon), so the .deb and
# the libraries it needs that are not installed are downloaded with `apt-get download` and
# unpacked with `dpkg -x` into one directory. A wrapper, <dir>/bin/syslog-ng, runs the unpacked
# binary with LD_LIBRARY_PATH and --module-path pointing into that directory. Idempotent.
#
#   scripts/peers/syslog-ng.sh            install (or check the existing install), print the wrapper path
#
# Environment:
#   NETCONSD_PEERS_DIR   where peers go   [/opt/netconsd-peers as root, else <repo>/.peers]
#                        test/helpers/syslog-ng.ts looks in the same places
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
if [ -n "${NETCONSD_PEERS_DIR:-}" ]; then PEERS=$NETCONSD_PEERS_DIR
elif [ "$(id -u)" = 0 ]; then PEERS=/opt/netconsd-peers
else PEERS=$REPO/.peers
fi
DEST=$PEERS/syslog-ng
WRAPPER=$DEST/bin/syslog-ng

log() { echo "[peers/syslog-ng] $*" >&2; }

# The wrapper runs and its modules load: nothing to do.
if [ -x "$WRAPPER" ] && "$WRAPPER" --version >/dev/null 2>&1; then
  echo "$WRAPPER"
  exit 0
fi

for c in apt-get apt-cache dpkg dpkg-deb ldd; do
  command -v "$c" >/dev/null 2>&1 || { log "needs $c (Debian/Ubuntu)"; exit 1; }
done

work=$(mktemp -d)
stage=$DEST.new.$$
trap 'rm -rf "$work" "$stage"' EXIT
mkdir -p "$work/debs" "$stage"

download() {
  (cd "$work/debs" && apt-get download "$1" >/dev/null 2>&1) && return 0
  # No package lists yet (a fresh container): refresh them once, as root.
  if [ "$(id -u)" = 0 ] && [ ! -e "$work/updated" ]; then
    touch "$work/updated"
    apt-get update -qq >/dev/null
    (cd "$work/debs" && apt-get download "$1" >/dev/null 2>&1) && return 0
  fi
  return 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Breadth-first over Depends: every library package that is not installed is unpacked too
# (bookworm: libivykis0, libnet1, libpcre3, libwrap0). Only the first alternative of each
# dependency is followed; non-library dependencies (sysvinit-utils | lsb-base) are not needed to run.
queue=(syslog-ng-core)
declare -A seen=([syslog-ng-core]=1)
while [ ${#queue[@]} -gt 0 ]; do
  pkg=${queue[0]}
  queue=("${queue[@]:1}")
  download "$pkg" || { log "apt-get download $pkg failed"; exit 1; }
  deb=$(ls "$work"/debs/"${pkg}"_*.deb | head -n1)
  dpkg -x "$deb" "$stage"
  log "unpacked $(basename "$deb")"
  deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g')
  for d in $deps; do
    case $d in lib*) ;; *) continue ;; esac
    [ -n "${seen[$d]:-}" ] && continue
    seen[$d]=1
    installed "$d" || queue+=("$d")
  done
done

moddir=$(ls -d "$stage"/usr/lib/syslog-ng/[0-9]* | head -n1)
[ -d "$moddir" ] || { log "no module directory under usr/lib/syslog-ng in the package"; exit 1; }
ver=$(basename "$moddir")
# Every directory with a shared library in it (usr/lib/syslog-ng, usr/lib/<multiarch>, ...),
# except the module directory, which syslog-ng loads from by --module-path.
libdirs=$(cd "$stage" && find . -name '*.so*' \( -type f -o -type l \) -printf '%h\n' | sed 's|^\./||' | sort -u | grep -vx "usr/lib/syslog-ng/$ver")
path_in() { local out='' d; for d in $libdirs; do out=$out${out:+:}$1/$d; done; echo "$out"; }
mkdir -p "$stage/bin"
# Paths in the wrapper are final ($DEST), not the staging directory.
cat >"$stage/bin/syslog-ng" <<EOF
#!/bin/sh
# Written by scripts/peers/syslog-ng.sh: syslog-ng $ver unpacked from Debian's packages.
export LD_LIBRARY_PATH="$(path_in "$DEST")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$DEST/usr/sbin/syslog-ng" --module-path="$DEST/usr/lib/syslog-ng/$ver" "\$@"
EOF
chmod +x "$stage/bin/syslog-ng"

missing=$(LD_LIBRARY_PATH="$(path_in "$stage")" ldd "$stage/usr/sbin/syslog-ng" "$moddir"/*.so 2>/dev/null | grep 'not found' | sort -u || true)
if [ -n "$missing" ]; then log "libraries still missing:"; echo "$missing" >&2; exit 1; fi

rm -rf "$DEST"
mkdir -p "$PEERS"
mv "$stage" "$DEST"
"$WRAPPER" --version >/dev/null || { log "$WRAPPER --version failed"; exit 1; }
log "syslog-ng $ver installed in $DEST"
echo "$WRAPPER"
