#!/bin/sh
# KHO core across one kexec: 300 folios of random orders (0..MAX_PAGE_ORDER)
# filled with seeded data, and a state tree with properties of many sizes
# (one larger than a page, so the FDT spans pages). Stage 2 restores and
# checks every byte and property; the seed travels in the preserved state.
. /tests/kho_lib.sh

case "$1" in
1)
	[ -d $KHO/out ] || fail "no kho/out in debugfs: KHO not enabled"
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "300 $seed" || fail "preserve 300 folios"
	kho_write $KHO/out/finalize 1 || fail "finalize"
	expect_eq "finalize" 1 "$(cat $KHO/out/finalize)"
	size=$(wc -c < $KHO/out/fdt)
	[ "$size" -gt 4096 ] || fail "FDT is $size bytes, expected more than a page"
	echo "FDT $size bytes; scratch: $(cat $KHO/out/scratch_phys | tr '\n' ' ')"
	exit $NEXT_STAGE ;;
2)
	kho_expect_verified
	exit 0 ;;
esac
fail "unexpected stage $1"
