#!/bin/sh
# kho_scratch=lowmem,global,pernode gives those sizes, the next kernel boots
# inside them, and it keeps the same areas. On this one-node VM the
# per-node size goes to the global area, and so does the lowmem size when
# all RAM lies below 4 GiB: the total asked for stays. The sizes must hold
# everything the next kernel allocates before it has reserved preserved
# memory: with the KASAN debug kernel (4 GiB VM) that is over 512 MiB of
# shadow alone, so smaller areas would leave it unable to boot.
. /tests/kho_lib.sh

case "$1" in
1)
	if all_ram_low; then
		want="0x38000000"		# 64M + 768M + 64M
	else
		want="0x4000000 0x34000000"	# 64M; 768M + 64M
	fi
	expect_eq "scratch_len" "$want" \
		"$(cat $KHO/out/scratch_len | tr '\n' ' ' | sed 's/ $//')" ;;
esac
kho_scratch_kept "$1"
