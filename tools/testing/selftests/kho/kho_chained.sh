#!/bin/sh
# Three hops in a row: every kernel verifies what the previous one preserved,
# preserves new data of its own, and hands on the same scratch areas.
. /tests/kho_lib.sh

stage=$1
if [ "$stage" = 1 ]; then
	cat $KHO/out/scratch_phys $KHO/out/scratch_len > scratch.1
else
	kho_expect_verified
	expect_eq "scratch areas at hop $((stage - 1))" "$(cat scratch.1 | tr '\n' ' ')" \
		"$(cat $KHO/out/scratch_phys $KHO/out/scratch_len | tr '\n' ' ')"
fi
[ "$stage" = 4 ] && exit 0
seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
kho_write $KHO/test/preserve "100 $seed" || fail "preserve at stage $stage"
exit $NEXT_STAGE
