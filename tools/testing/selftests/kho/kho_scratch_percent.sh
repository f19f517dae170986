#!/bin/sh
# kho_scratch=N% scales what the kernel allocated at boot. On this one-node
# VM the per-node area is exactly N% of it and the global area the same
# amount raised to its 128M floor; when all RAM lies below 4 GiB the lowmem
# area is that amount raised to its 16M floor too.
. /tests/kho_lib.sh

hex() { printf '0x%x' "$1"; }
max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }

set -- $(cat $KHO/out/scratch_len)
[ $# = 3 ] || fail "expected 3 scratch areas, got $#"
lowmem=$(($1)) global=$(($2)) pernode=$(($3))
echo "lowmem $(hex $lowmem) global $(hex $global) pernode $(hex $pernode)"
top=$(grep "System RAM" /proc/iomem | tail -n 1 | sed 's/^ *[0-9a-f]*-\([0-9a-f]*\) .*/\1/')
if [ $((0x$top)) -lt $((1 << 32)) ]; then
	expect_eq "lowmem area" "$(hex $(max $pernode $((16 << 20))))" "$(hex $lowmem)"
else
	# RAM above 4 GiB: the lowmem area scales only allocations below it
	[ $lowmem -ge $((16 << 20)) ] || fail "lowmem area $(hex $lowmem) below its 16M floor"
	echo "ok: lowmem area $(hex $lowmem) (RAM reaches 0x$top)"
fi
expect_eq "global area" "$(hex $(max $pernode $((128 << 20))))" "$(hex $global)"
dmesg | grep -q "kho_scratch=.*expected" && fail "kho_scratch=50% reported as invalid"
exit 0
