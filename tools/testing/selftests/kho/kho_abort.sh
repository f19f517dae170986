#!/bin/sh
# Finalize freezes the state tree (adding fails with EBUSY); unfreeze makes
# it writable again with preserved memory still preserved; a second
# finalize and a kexec then carry everything, the late addition included.
. /tests/kho_lib.sh

case "$1" in
1)
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "40 $seed" || fail "preserve"
	kho_write $KHO/out/finalize 1 || fail "first finalize"
	if kho_write $KHO/test/add_node frozen-node; then
		fail "adding a node after finalize succeeded, expected EBUSY"
	fi
	grep -qi busy write.err || fail "adding after finalize: expected EBUSY, got '$(cat write.err)'"
	echo "ok: adding after finalize refused: $(cat write.err)"
	kho_write $KHO/out/finalize 0 || fail "unfreeze"
	expect_eq "finalize after unfreeze" 0 "$(cat $KHO/out/finalize)"
	kho_write $KHO/test/add_node after-abort || fail "adding after unfreeze"
	kho_write $KHO/out/finalize 1 || fail "second finalize"
	exit $NEXT_STAGE ;;
2)
	kho_expect_verified
	grep -q after-abort $KHO/in/fdt || fail "node added after unfreeze missing from the handover"
	if grep -q frozen-node $KHO/in/fdt; then
		fail "node refused while frozen is in the handover"
	fi
	echo "ok: late node present, refused node absent"
	exit 0 ;;
esac
fail "unexpected stage $1"
