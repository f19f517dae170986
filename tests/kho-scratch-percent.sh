#!/bin/sh
# kho-test: cmdline=kho=on kho_scratch=50%
# kho-test: mem=2G
# kho_scratch=N% scales what the kernel allocated at boot. On this one-node
# VM below 4 GiB the per-node area is exactly N% of it, and the lowmem and
# global areas are the same amount raised to their floors (16M, 128M).
. /tests/.lib.sh

hex() { printf '0x%x' "$1"; }
max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }

set -- $(cat $KHO/out/scratch_len)
[ $# = 3 ] || fail "expected 3 scratch areas, got $#"
lowmem=$(($1)) global=$(($2)) pernode=$(($3))
echo "lowmem $(hex $lowmem) global $(hex $global) pernode $(hex $pernode)"
expect_eq "lowmem area" "$(hex $(max $pernode $((16 << 20))))" "$(hex $lowmem)"
expect_eq "global area" "$(hex $(max $pernode $((128 << 20))))" "$(hex $global)"
dmesg | grep -q "kho_scratch=.*expected" && fail "kho_scratch=50% reported as invalid"
exit 0
