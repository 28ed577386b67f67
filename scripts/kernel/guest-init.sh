#!/bin/busybox sh
# /init of the kernel end-to-end test's guest (busybox sh, PID 1). netconsole-boot.sh appends it,
# with /etc/netconsd-e2e.conf and /msgs/*, to the cached base initramfs (busybox + modules).
#
# It brings up eth0 as 10.0.2.15 (qemu user networking), loads netconsole in extended mode
# ("+" flag, Documentation/networking/netconsole.rst "Extended console") aimed at the slirp
# gateway 10.0.2.2:$PORT (which qemu delivers to 127.0.0.1:$PORT on the host), writes each
# /msgs/* file to /dev/kmsg with ONE write(2), then panics with sysrq-c. With panic=1 on the
# kernel command line and qemu's -no-reboot, the panic's reboot ends qemu.
#
# Lines printed here go to the serial console only (the host keeps it as console.log); only
# the /dev/kmsg writes reach the kernel log, and so netconsole.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

PORT=6666
LOCAL_PORT=6665
LOCAL_IP=10.0.2.15
TARGET_IP=10.0.2.2
# slirp's gateway MAC: netpoll does not ARP, it sends to the configured MAC (broadcast otherwise)
TARGET_MAC=52:55:0a:00:02:02
. /etc/netconsd-e2e.conf

KVER=$(uname -r)
say() { echo "[netconsd-e2e] $*" > /dev/console; }
# Stop at once (qemu exits through -no-reboot) so the host sees the failure in seconds, not
# at its timeout. The host script looks for the panic line and prints this console log.
fail() { say "FAILED: $*"; sync; reboot -f; sleep 10; }

say "kernel $KVER, netconsole target 10.0.2.2:$PORT"

# Modules in dependency order (busybox modprobe does not resolve dependencies on its own).
while IFS= read -r m; do
	[ -n "$m" ] || continue
	insmod "/lib/modules/$KVER/$m" || fail "insmod $m"
done < /lib/modules/$KVER/load-order

i=0
while [ ! -e /sys/class/net/eth0 ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "no eth0 after 10 s"
	usleep 100000
done
ip link set lo up
ip link set eth0 up || fail "ip link set eth0 up"
ip addr add $LOCAL_IP/24 dev eth0 || fail "ip addr add"

# "+" selects the extended format. A target given at module load replays the whole printk
# buffer from the first record (CON_PRINTBUFFER), so the host sees the boot log from seq 0.
spec="+${LOCAL_PORT}@${LOCAL_IP}/eth0,${PORT}@${TARGET_IP}/${TARGET_MAC}"
say "insmod netconsole netconsole=$spec"
insmod "/lib/modules/$KVER/$(cat /lib/modules/$KVER/netconsole-path)" "netconsole=$spec" \
	|| fail "insmod netconsole"

# One write(2) per message: dd with a block larger than any message. A record written without
# a trailing newline would be held back by printk until the next one, so every file ends in \n.
n=0
for f in /msgs/*; do
	[ -f "$f" ] || continue
	dd if="$f" of=/dev/kmsg bs=65536 count=1 2>/tmp/dd.err || fail "write $f: $(cat /tmp/dd.err)"
	n=$((n + 1))
done
say "wrote $n messages to /dev/kmsg, panicking"

echo 1 > /proc/sys/kernel/sysrq
echo c > /proc/sysrq-trigger
fail "still alive after sysrq-c"
