# Helpers for shell tests; source with `. /tests/kho_lib.sh`.
# A failed check prints what was expected and what came instead, then exits 1.

# The exit status that asks the init for another stage after a kexec.
NEXT_STAGE=10

fail() { echo "FAIL: $*"; exit 1; }

# expect_eq WHAT EXPECTED GOT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
	echo "ok: $1 = '$3'"
}

# expect_ne WHAT UNWANTED GOT
expect_ne() {
	[ "$2" != "$3" ] || fail "$1: expected anything but '$2'"
	echo "ok: $1 = '$3' (not '$2')"
}

# cmdline_arg NAME: value of NAME= on this kernel's command line
cmdline_arg() {
	for w in $(cat /proc/cmdline); do
		case "$w" in "$1="*) echo "${w#*=}"; return 0;; esac
	done
	return 1
}

# next_cmdline WORDS: append WORDS to the next kernel's command line
next_cmdline() { echo "$*" >> next-cmdline; }

KHO=/sys/kernel/debug/kho

# kho_expect_verified: read kho/test/verify in the new kernel and fail on
# any FAIL line or a missing "ok" section.
kho_expect_verified() {
	[ -d $KHO/in ] || fail "no kho/in/ in the new kernel: handover not accepted ($(dmesg | grep -m1 'KHO: incoming'))"
	cat $KHO/test/verify > verify.out || fail "reading kho/test/verify"
	cat verify.out
	if grep -q FAIL verify.out; then
		fail "$(grep -m1 FAIL verify.out)"
	fi
	grep -q "^ok folios:" verify.out || fail "no folios verified"
	grep -q "^ok tree:" verify.out || fail "tree not verified"
	grep -q "^ok refused memory that was not preserved" verify.out ||
		fail "restore of unpreserved memory not refused"
}

# kho_write FILE VALUE: write to a debugfs file, print the error if any
kho_write() {
	echo "$2" > "$1" 2> write.err
	rc=$?
	[ $rc = 0 ] || cat write.err
	return $rc
}
