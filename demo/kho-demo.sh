#!/bin/sh
# The `make demo` scenario. Lines starting with "demo:" form the report.
# Kernel 1 preserves memory with known contents through KHO and kexecs;
# kernel 2 takes the same physical pages back and checks every byte.
. /tests/.lib.sh

case "$1" in
1)
	cat /proc/sys/kernel/random/boot_id > boot_id.1
	echo "demo: kernel 1 up: Linux $(uname -r), boot id $(cat boot_id.1)"
	set -- $(cat $KHO/out/scratch_len)
	echo "demo: KHO scratch areas reserved at boot: $# ($(for l in "$@"; do printf '%d MiB ' $((l >> 20)); done| sed 's/ $//'))"
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "200 $seed" || fail "preserve"
	kho_write $KHO/out/finalize 1 || fail "finalize"
	fin=$(dmesg | grep "KHO: finalized in" | sed 's/.*finalized in //')
	pages=$(echo "$fin" | sed -n 's/.* \([0-9]*\) pages preserved.*/\1/p')
	echo "demo: preserved $((pages * 4 / 1024)) MiB in 200 folios of orders 0-10, filled with seeded data"
	echo "demo: finalized in $fin"
	echo "demo: kexec_file_load of a new kernel into scratch, then reboot(LINUX_REBOOT_CMD_KEXEC)"
	exit $NEXT_STAGE ;;
2)
	echo "demo: kernel 2 up: Linux $(uname -r), boot id $(cat /proc/sys/kernel/random/boot_id)"
	expect_ne "boot id" "$(cat boot_id.1)" "$(cat /proc/sys/kernel/random/boot_id)" >/dev/null
	dmesg | grep -m1 "KHO: incoming map" | sed 's/.*KHO: incoming map: /demo: handover accepted: /'
	kho_expect_verified > /dev/null
	sed -n 's/^ok folios: /demo: restored in place (same physical pages, 0 copied): /p; s/^ok tree: /demo: state tree: /p' verify.out
	exit 0 ;;
esac
fail "unexpected stage $1"
