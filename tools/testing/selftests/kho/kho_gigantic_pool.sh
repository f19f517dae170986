#!/bin/sh
# A boot-time pool of 1 GiB huge pages (hugepagesz=1G hugepages=1) and KHO.
# The pool is a memblock allocation made before the page allocator is up,
# but it is not memory the next kernel needs to boot: scratch is sized
# without it (at 200% it would take half of this 4 GiB VM). After the
# kexec, where memblock is confined to scratch until the preserved memory
# is reserved, the pool is allocated again once that is done, outside
# scratch, and the preserved pages come through.
. /tests/kho_lib.sh

POOL=/sys/kernel/mm/hugepages/hugepages-1048576kB

check_pool() {	# KERNEL: the pool holds its one page, free
	[ -d $POOL ] || fail "$1: no 1 GiB hstate ($POOL): the CPU lacks pdpe1gb?"
	expect_eq "$1: 1 GiB pages in the pool" 1 "$(cat $POOL/nr_hugepages)"
	expect_eq "$1: 1 GiB pages free" 1 "$(cat $POOL/free_hugepages)"
	dmesg | grep "HugeTLB.*1.00 GiB failed" && fail "$1: the pool was not allocated"
	return 0
}

case "$1" in
1)
	check_pool "first kernel"
	line=$(dmesg | grep "KHO: scratch sized at") || fail "no scratch sizing line in dmesg"
	echo "$line"
	echo "$line" | grep -q "boot-time huge pages (1024 MiB) left out" ||
		fail "the 1 GiB page was not left out of the scratch estimate"
	kho_expect_scratch_pct 200
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "50 $seed" || fail "preserve"
	cat $KHO/out/scratch_len > scratch_len.1
	exit $NEXT_STAGE ;;
2)
	kho_expect_verified
	check_pool "kernel booted from the handover"
	expect_eq "scratch areas kept" "$(cat scratch_len.1 | tr '\n' ' ')" \
		"$(cat $KHO/out/scratch_len | tr '\n' ' ')"
	exit 0 ;;
esac
fail "unexpected stage $1"
