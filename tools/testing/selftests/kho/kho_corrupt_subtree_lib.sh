# Shared body of the kho_corrupt_subtree_* tests: stage 1 finalizes and
# then points the kho-test subtree somewhere it must not be read from
# ($WHAT), with the state tree and handover checksums made good again.
# Stage 2: the handover is taken, that subtree alone is refused ($REASON
# in the log), nothing of it is read, and the kernel runs normally.
case "$1" in
1)
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "40 $seed" || fail "preserve"
	kho_write $KHO/out/finalize 1 || fail "finalize"
	kho_write $KHO/test/corrupt "$WHAT" || fail "corrupt $WHAT"
	exit $NEXT_STAGE ;;
2)
	[ -d $KHO/in ] || fail "the handover was rejected whole: only the subtree is damaged"
	out=$(cat $KHO/test/verify)
	echo "verify: $out"
	case "$out" in
	"FAIL subtree kho-test missing"*) ;;
	*) fail "the damaged subtree was not refused" ;;
	esac
	msg=$(dmesg | grep "subtree kho-test:")
	echo "dmesg: $msg"
	case "$msg" in
	*"$REASON"*) ;;
	*) fail "expected '$REASON' in the log, got '$msg'" ;;
	esac
	dd if=/dev/zero of=/run/fill bs=1M count=600 2>/dev/null || fail "could not use memory"
	rm -f /run/fill
	echo "ok: the subtree was refused and the kernel runs"
	exit 0 ;;
esac
fail "unexpected stage $1"
