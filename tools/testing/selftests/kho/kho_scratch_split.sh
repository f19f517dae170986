#!/bin/sh
# A global scratch area larger than any free range of memory at first
# boot is reserved in pieces. On this 4 GiB VM RAM is 2 GiB below 4 GiB and
# 2 GiB above, so 2560 MiB (kho_scratch=0,2560M,0) fits in no single range:
# it must come as at least two areas adding up to the size asked for, and
# the next kernel, booting inside them, keeps the same areas. The debug
# kernel gets the same 4 GiB (debug_mem=), not twice, to keep that layout.
. /tests/kho_lib.sh

case "$1" in
1)
	dmesg | grep -q "KHO: no free range of 2560 MiB: the global scratch area is in [2-8] pieces" ||
		fail "no message about the global scratch area in pieces"
	n=0 total=0
	for len in $(cat $KHO/out/scratch_len); do
		n=$((n + 1))
		total=$((total + len))
	done
	[ $n -ge 2 ] || fail "$n scratch area(s); expected the global one in pieces"
	expect_eq "scratch total" "$((2560 << 20))" "$total" ;;
esac
kho_scratch_kept "$1"
