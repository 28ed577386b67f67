#!/usr/bin/env bash
# Boot a real Debian kernel in qemu whose netconsole sends extended-format records to a
# receiver on this host, write test messages to /dev/kmsg, then panic. Used by
# test/kernel/boot.test.ts to drive the real daemon; usable by hand against any receiver.
#
#   netconsole-boot.sh setup    install missing packages, download the newest bookworm
#                               linux-image-6.1.*-cloud-amd64, build the base initramfs (idempotent)
#   netconsole-boot.sh status   exit 0 if `run` can work offline now; else say why and exit 1
#   netconsole-boot.sh run --port P [options]
#                               one boot; exits 0 when qemu ended and the console shows the panic
#
# run options:
#   --port P          UDP port on 127.0.0.1 the guest's netconsole sends to (required)
#   --messages FILE   one message per line, each written to /dev/kmsg with one write(2) and a
#                     trailing newline; bytes as in the file (UTF-8), "<N>" prefix = priority
#                     (default: a few built-in lines)
#   --out DIR         where console.log (serial console) goes     [a new /tmp/netconsd-kernel.* dir]
#   --pcap FILE       also record the guest NIC's frames (qemu filter-dump, pcap)
#   --timeout S       kill qemu after S seconds                    [120]
#   --smp N, --mem MB guest size                                   [1, 256]
#
# Traffic: guest 10.0.2.15:6665 -> slirp gateway 10.0.2.2:P, which qemu's user-mode network
# delivers to 127.0.0.1:P from an ephemeral port of the qemu process. Nothing leaves the host.
#
# Environment:
#   NETCONSD_KERNEL_CACHE   cache directory              [/var/cache/netconsd-kernel]
#   NETCONSD_KERNEL_SERIES  kernel series to fetch       [6.1]
#   NETCONSD_KERNEL_ACCEL   qemu accelerator             [tcg]  (kvm only with real vmx/svm)
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
CACHE=${NETCONSD_KERNEL_CACHE:-/var/cache/netconsd-kernel}
SERIES=${NETCONSD_KERNEL_SERIES:-6.1}
FLAVOR=cloud-amd64
ACCEL=${NETCONSD_KERNEL_ACCEL:-tcg}
MARKER=$CACHE/ready.env
# netconsole plus the guest NIC; their dependencies are added from each module's .modinfo
WANT_MODULES=(virtio_pci virtio_net netconsole)

log() { echo "[netconsole-boot] $*" >&2; }
die() { echo "[netconsole-boot] ERROR: $*" >&2; exit 1; }

# ------------------------------------------------------------------------------- setup ---

apt_lists_empty() { [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]; }
APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" = 1 ] && return 0
	log "apt-get update"
	apt-get update -qq >/dev/null
	APT_UPDATED=1
}

install_packages() {
	local missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	# a static busybox: it is copied alone into the initramfs
	{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v dpkg-deb >/dev/null || die "dpkg-deb not found: this script needs a Debian-based host"
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install them as root (apt-get install ${missing[*]})"
	apt_lists_empty && apt_update
	log "apt-get install ${missing[*]}"
	local err; err=$(mktemp)
	if ! apt_install "${missing[@]}" 2>"$err"; then
		# stale lists can name versions the mirror dropped
		apt_update
		apt_install "${missing[@]}" 2>"$err" || { cat "$err" >&2; rm -f "$err"; die "apt-get install ${missing[*]} failed"; }
	fi
	rm -f "$err"
}
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

# Prints "PACKAGE VERSION" of the newest linux-image-$SERIES.*-$FLAVOR known to apt, by way of
# the meta package (whose Depends names the ABI-versioned image package).
resolve_kernel() {
	local meta=linux-image-$FLAVOR v pkg
	v=$(apt-cache madison "$meta" 2>/dev/null | awk '{print $3}' | grep -E "^${SERIES//./\\.}\." | sort -V | tail -n1 || true)
	[ -n "$v" ] || return 1
	pkg=$(apt-cache show "$meta=$v" | awk -F': ' '/^Depends:/{print $2; exit}' | tr ',' '\n' \
		| grep -oE "linux-image-[^ ]+-$FLAVOR" | head -n1 || true)
	[ -n "$pkg" ] || return 1
	echo "$pkg $v"
}

# depends= of a module file, comma-separated names (from the NUL-separated .modinfo strings)
module_depends() {
	local f=$1
	case "$f" in
	*.ko.xz) xz -dc "$f" ;;
	*.ko.zst) zstd -dcq "$f" ;;
	*.ko.gz) gzip -dc "$f" ;;
	*) cat "$f" ;;
	esac | tr '\0' '\n' | grep -a -m1 '^depends=' | cut -d= -f2- || true
}

# build_modules SRC DST: copy the WANT_MODULES closure (decompressed) from the unpacked
# package's lib/modules/KVER into DST, with DST/load-order (dependencies first, netconsole
# excluded: the guest loads it last, with its parameter) and DST/netconsole-path.
build_modules() {
	local src=$1 dst=$2
	local -A path=() seen=()
	local f n
	while IFS= read -r f; do
		n=$(basename "$f"); n=${n%%.ko*}; n=${n//-/_}
		path[$n]=$f
	done < <(find "$src/kernel" -name '*.ko*')
	mkdir -p "$dst"
	: > "$dst/load-order"
	visit() {
		local m=$1 d rel
		[ -n "${seen[$m]:-}" ] && return 0
		seen[$m]=1
		if [ -z "${path[$m]:-}" ]; then
			grep -qE "/${m//_/[-_]}\.ko" "$src/modules.builtin" 2>/dev/null && return 0
			die "module $m is neither in the package nor built in"
		fi
		for d in $(module_depends "${path[$m]}" | tr ',' ' '); do visit "${d//-/_}"; done
		rel=${path[$m]#"$src"/}; rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
		mkdir -p "$(dirname "$dst/$rel")"
		case "${path[$m]}" in
		*.ko.xz) xz -dc "${path[$m]}" > "$dst/$rel" ;;
		*.ko.zst) zstd -dcq "${path[$m]}" > "$dst/$rel" ;;
		*.ko.gz) gzip -dc "${path[$m]}" > "$dst/$rel" ;;
		*) cp "${path[$m]}" "$dst/$rel" ;;
		esac
		if [ "$m" = netconsole ]; then echo "$rel" > "$dst/netconsole-path"; else echo "$rel" >> "$dst/load-order"; fi
	}
	for n in "${WANT_MODULES[@]}"; do visit "$n"; done
	[ -s "$dst/netconsole-path" ] || die "netconsole.ko not found in the kernel package"
}

# build_base_initramfs KDIR: static busybox + the modules, as one gzip'd newc cpio
build_base_initramfs() {
	local kdir=$1 kver=$2 r
	r=$(mktemp -d)
	mkdir -p "$r/bin" "$r/lib/modules"
	cp /bin/busybox "$r/bin/busybox"
	cp -a "$kdir/modules" "$r/lib/modules/$kver"
	( cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 ) > "$kdir/base.cpio.gz.tmp"
	mv "$kdir/base.cpio.gz.tmp" "$kdir/base.cpio.gz"
	rm -rf "$r"
}

cmd_setup() {
	install_packages
	mkdir -p "$CACHE" || die "cannot create $CACHE (set NETCONSD_KERNEL_CACHE to a writable directory)"
	local pv pkg ver kdir work deb kver
	pv=$(resolve_kernel) || { apt_update; pv=$(resolve_kernel) || true; }
	if [ -z "$pv" ]; then
		[ -f "$MARKER" ] && { log "no linux-image-$FLAVOR $SERIES.* in apt; keeping the cached kernel"; return 0; }
		die "no linux-image-$FLAVOR $SERIES.* known to apt (sources list without bookworm?)"
	fi
	pkg=${pv% *}; ver=${pv#* }
	kdir=$CACHE/$pkg
	if [ -f "$kdir/.ok" ] && [ "$(cat "$kdir/.ok")" = "$ver" ]; then
		log "cached: $pkg $ver"
	else
		rm -rf "$kdir"; mkdir -p "$kdir"
		work=$(mktemp -d "$CACHE/.download.XXXXXX")
		# apt-get download writes to the current directory; as root it warns that the _apt user
		# cannot, and downloads unsandboxed (harmless here)
		log "apt-get download $pkg=$ver"
		if ! ( cd "$work" && apt-get download -qq "$pkg=$ver" 2>&1 | grep -v 'unsandboxed' >&2 ); then :; fi
		deb=$(find "$work" -name "${pkg}_*.deb" -print -quit)
		if [ -z "$deb" ]; then
			# stale package lists name a version the mirror no longer has
			apt_update
			( cd "$work" && apt-get download -qq "$pkg=$ver" 2>&1 | grep -v 'unsandboxed' >&2 ) || true
			deb=$(find "$work" -name "${pkg}_*.deb" -print -quit)
		fi
		[ -n "$deb" ] || { rm -rf "$work" "$kdir"; die "apt-get download $pkg=$ver failed (no network to the Debian mirror?)"; }
		mkdir -p "$work/x"
		dpkg-deb -x "$deb" "$work/x"
		kver=$(ls "$work/x/lib/modules/")
		cp "$work/x/boot/vmlinuz-$kver" "$kdir/vmlinuz"
		build_modules "$work/x/lib/modules/$kver" "$kdir/modules"
		echo "$kver" > "$kdir/kver"
		rm -rf "$work"
		echo "$ver" > "$kdir/.ok"
		log "unpacked $pkg $ver ($kver): $(tr '\n' ' ' < "$kdir/modules/load-order")$(cat "$kdir/modules/netconsole-path")"
	fi
	kver=$(cat "$kdir/kver")
	# rebuilt on every setup: cheap (about 1 s), and picks up a new busybox
	build_base_initramfs "$kdir" "$kver"
	{
		echo "KPKG=$pkg"; echo "KPKGVER=$ver"; echo "KVER=$kver"
		echo "VMLINUZ=$kdir/vmlinuz"; echo "BASE_INITRD=$kdir/base.cpio.gz"
	} > "$MARKER.tmp"
	mv "$MARKER.tmp" "$MARKER"
	log "ready: $pkg $ver ($kver) in $kdir"
}

# ------------------------------------------------------------------------------ status ---

# Prints the reason `run` cannot work, or nothing.
not_ready_reason() {
	command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; return; }
	command -v cpio >/dev/null || { echo "cpio not installed"; return; }
	[ -f "$MARKER" ] || { echo "no kernel in $CACHE (run: scripts/kernel/netconsole-boot.sh setup)"; return; }
	# shellcheck disable=SC1090
	. "$MARKER"
	[ -f "$VMLINUZ" ] && [ -f "$BASE_INITRD" ] || { echo "cache $CACHE is incomplete (run setup again)"; return; }
	if [ "$ACCEL" = kvm ] && [ ! -w /dev/kvm ]; then echo "NETCONSD_KERNEL_ACCEL=kvm but /dev/kvm is not writable"; return; fi
}

cmd_status() {
	local why
	why=$(not_ready_reason)
	if [ -n "$why" ]; then echo "$why" >&2; exit 1; fi
	. "$MARKER"
	echo "ready: $KPKG $KPKGVER ($KVER), accel $ACCEL"
}

# --------------------------------------------------------------------------------- run ---

default_messages() {
	cat <<'EOF'
<14>netconsd-e2e: hello from the guest kernel log
netconsd-e2e: written without a priority prefix
<13>netconsd-e2e: UTF-8 héllo wörld € 日本語
EOF
}

# what /init said (its FAILED line names the step), then the kernel's last words
show_console() {
	[ -f "$1" ] || { log "no console log"; return 0; }
	{ echo "--- /init ---"; grep -a '\[netconsd-e2e\]' "$1"; echo "--- console tail ---"; tail -n 15 "$1"; } >&2 || true
}

cmd_run() {
	local port="" messages="" out="" pcap="" timeout=120 smp=1 mem=256
	while [ $# -gt 0 ]; do
		case "$1" in
		--port) port=$2; shift ;;
		--messages) messages=$2; shift ;;
		--out) out=$2; shift ;;
		--pcap) pcap=$2; shift ;;
		--timeout) timeout=$2; shift ;;
		--smp) smp=$2; shift ;;
		--mem) mem=$2; shift ;;
		*) die "unknown run option $1" ;;
		esac
		shift
	done
	[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port expects 1..65535, got '$port'"
	[ -z "$messages" ] || [ -f "$messages" ] || die "--messages $messages: no such file"
	local why; why=$(not_ready_reason)
	[ -z "$why" ] || die "$why"
	. "$MARKER"
	[ -n "$out" ] || out=$(mktemp -d /tmp/netconsd-kernel.XXXXXX)
	mkdir -p "$out"
	RUN_WORK=$(mktemp -d /tmp/netconsd-kernel-work.XXXXXX)
	trap 'rm -rf "$RUN_WORK"' EXIT
	local work=$RUN_WORK

	# per-run cpio appended to the cached one (the kernel unpacks concatenated archives in order):
	# /init, its settings, and the messages as one file each (so each is one write(2))
	mkdir -p "$work/root/etc" "$work/root/msgs"
	cp "$HERE/guest-init.sh" "$work/root/init"; chmod 755 "$work/root/init"
	echo "PORT=$port" > "$work/root/etc/netconsd-e2e.conf"
	local i=0 line
	while IFS= read -r line || [ -n "$line" ]; do
		i=$((i + 1))
		# /dev/kmsg refuses writes over LOG_LINE_MAX (992 bytes on 6.1, newline included) with
		# EINVAL, and a write of exactly 992 loses its newline (and is then held back by printk)
		[ "$(printf '%s\n' "$line" | wc -c)" -le 991 ] \
			|| die "message $i is $(printf '%s\n' "$line" | wc -c) bytes with its newline; /dev/kmsg takes at most 991"
		printf '%s\n' "$line" > "$work/root/msgs/$(printf '%04d' "$i")"
	done < <(if [ -n "$messages" ]; then cat "$messages"; else default_messages; fi)
	( cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 ) > "$work/run.cpio.gz"
	cat "$BASE_INITRD" "$work/run.cpio.gz" > "$work/initrd"

	# loglevel=8: every record goes to the consoles (netconsole is one), so the extended stream
	# has no seq gaps from console filtering. panic=1 + -no-reboot: the panic ends qemu; 1 s
	# rather than panic=-1 so the last datagrams leave slirp before the process exits.
	local cmdline="console=ttyS0,115200 panic=1 printk.devkmsg=on loglevel=8"
	local cpu=(-cpu qemu64,-cx16)
	[ "$ACCEL" = kvm ] && cpu=(-cpu host)
	local qemu=(qemu-system-x86_64 -accel "$ACCEL" "${cpu[@]}" -smp "$smp" -m "$mem"
		-nodefaults -no-user-config -display none -no-reboot
		-serial "file:$out/console.log"
		-kernel "$VMLINUZ" -initrd "$work/initrd" -append "$cmdline"
		-netdev user,id=n0,ipv6=off)
	[ -n "$pcap" ] && qemu+=(-object "filter-dump,id=fd0,netdev=n0,file=$pcap")
	qemu+=(-device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56)

	log "boot $KVER ($ACCEL, $i messages) -> 127.0.0.1:$port, console $out/console.log"
	local rc=0 t0=$SECONDS
	timeout --kill-after=5 "$timeout" "${qemu[@]}" </dev/null || rc=$?
	log "qemu exited with $rc after $((SECONDS - t0)) s"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then show_console "$out/console.log"; die "qemu timed out after $timeout s"; fi
	[ "$rc" = 0 ] || { show_console "$out/console.log"; die "qemu failed with exit code $rc"; }
	if ! grep -q 'Kernel panic - not syncing' "$out/console.log"; then
		show_console "$out/console.log"
		die "the guest did not reach its panic (console above)"
	fi
}

sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
setup) cmd_setup "$@" ;;
status) cmd_status "$@" ;;
run) cmd_run "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
