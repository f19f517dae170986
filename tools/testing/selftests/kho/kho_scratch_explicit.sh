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
		"$(cat $KHO/out/scratch_len | tr '\n' ' ' | sed 's/ $//')"
	cat $KHO/out/scratch_phys > scratch_phys.1
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "50 $seed" || fail "preserve"
	exit $NEXT_STAGE ;;
2)
	kho_expect_verified
	expect_eq "scratch_phys after kexec" "$(cat scratch_phys.1 | tr '\n' ' ')" \
		"$(cat $KHO/out/scratch_phys | tr '\n' ' ')"
	exit 0 ;;
esac
fail "unexpected stage $1"
