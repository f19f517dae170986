#!/bin/sh
# The `make demo` scenario. Lines starting with "demo:" form the report.
. /tests/.lib.sh

case "$1" in
1)
	cat /proc/sys/kernel/random/boot_id > boot_id.1
	echo "demo: kernel 1: $(uname -r), boot id $(cat boot_id.1)"
	echo "demo: kexec_file_load of the same bzImage, then reboot(LINUX_REBOOT_CMD_KEXEC)"
	cut -d' ' -f1 /proc/uptime > uptime.1
	exit $NEXT_STAGE ;;
2)
	echo "demo: kernel 2: $(uname -r), boot id $(cat /proc/sys/kernel/random/boot_id)"
	expect_ne "boot id" "$(cat boot_id.1)" "$(cat /proc/sys/kernel/random/boot_id)" >/dev/null
	echo "demo: kernel 2 reached userspace $(cut -d' ' -f1 /proc/uptime) s after its boot started"
	exit 0 ;;
esac
fail "unexpected stage $1"
