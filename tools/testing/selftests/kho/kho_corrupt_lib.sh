# Shared body of the kho_corrupt_* tests: stage 1 finalizes and then damages
# one part of the handover ($WHAT); stage 2 must boot without KHO, say why
# ($REASON) and run normally, with preserved memory treated as free memory.
case "$1" in
1)
	seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
	kho_write $KHO/test/preserve "40 $seed" || fail "preserve"
	kho_write $KHO/out/finalize 1 || fail "finalize"
	kho_write $KHO/test/corrupt "$WHAT" || fail "corrupt $WHAT"
	exit $NEXT_STAGE ;;
2)
	[ -d $KHO/in ] && fail "damaged handover ($WHAT) was accepted"
	msg=$(dmesg | grep "incoming handover rejected")
	echo "dmesg: $msg"
	case "$msg" in
	*"$REASON"*) ;;
	*) fail "expected rejection reason '$REASON', got '$msg'" ;;
	esac
	[ -d $KHO/out ] || fail "KHO not usable for the next update after a rejected handover"
	# use most of memory, the formerly preserved blocks included
	dd if=/dev/zero of=/run/fill bs=1M count=800 2>/dev/null || fail "could not use memory"
	rm -f /run/fill
	echo "ok: booted without KHO and used the memory"
	exit 0 ;;
esac
fail "unexpected stage $1"
