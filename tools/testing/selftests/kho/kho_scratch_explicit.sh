#!/bin/sh
# kho_scratch=lowmem,global,pernode gives exactly those sizes, the next
# kernel boots inside them, and it keeps the same areas. The sizes must hold
# everything the next kernel allocates before it has reserved preserved
# memory: with the KASAN debug kernel (4 GiB VM) that is over 512 MiB of
# shadow alone, so smaller areas would leave it unable to boot.
. /tests/kho_lib.sh

case "$1" in
1)
	expect_eq "scratch_len" "0x4000000 0x30000000 0x4000000" \
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
