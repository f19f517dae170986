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

# kho_scratch_kept STAGE: stage 1 remembers where the scratch areas are,
# preserves 50 folios and asks for stage 2; stage 2 checks the folios and
# that the new kernel kept the same areas, and passes.
kho_scratch_kept() {
	case "$1" in
	1)
		cat $KHO/out/scratch_phys > scratch_phys.1
		seed=$(head -c 4 /dev/urandom | od -An -tu4 | tr -d ' ')
		kho_write $KHO/test/preserve "50 $seed" || fail "preserve"
		exit $NEXT_STAGE ;;
	2)
		kho_expect_verified
		expect_eq "scratch_phys after kexec" \
			"$(tr '\n' ' ' < scratch_phys.1)" \
			"$(tr '\n' ' ' < $KHO/out/scratch_phys)"
		exit 0 ;;
	esac
	fail "unexpected stage $1"
}

# kho_write FILE VALUE: write to a debugfs file, print the error if any
kho_write() {
	echo "$2" > "$1" 2> write.err
	rc=$?
	[ $rc = 0 ] || cat write.err
	return $rc
}

# all_ram_low: does all RAM lie below 4 GiB?
all_ram_low() {
	top=$(grep "System RAM" /proc/iomem | tail -n 1 |
		sed 's/^ *[0-9a-f]*-\([0-9a-f]*\) .*/\1/')
	[ $((0x$top)) -lt $((1 << 32)) ]
}

# kho_expect_scratch_pct N: the scratch areas are what kho_scratch=N% makes
# of this kernel's boot allocations (kho/out/boot_alloc) on a one-node
# machine: no per-node area; the global area N% of them, raised to its 256M
# floor; a lowmem area first only when RAM reaches above 4 GiB. Sizes are
# whole pageblocks.
kho_expect_scratch_pct() {
	_boot=$(cat $KHO/out/boot_alloc)
	[ "$_boot" -gt 0 ] || fail "kho/out/boot_alloc is '$_boot'"
	set -- "$1" $(cat $KHO/out/scratch_len)
	_pct=$1
	shift
	echo "boot_alloc $_boot; scratch areas: $*"
	if all_ram_low; then
		[ $# = 1 ] || fail "all RAM below 4 GiB on one node: expected 1 scratch area, got $#"
		_global=$(($1))
	else
		[ $# = 2 ] || fail "RAM above 4 GiB on one node: expected 2 scratch areas, got $#"
		_global=$(($2))
		# the lowmem area scales only the allocations below 4 GiB
		[ $(($1)) -ge $((16 << 20)) ] || fail "lowmem area $1 below its 16M floor"
		echo "ok: lowmem area $1"
	fi
	_block=$(awk '/^Pages per block:/ { print $4 * 4096 }' /proc/pagetypeinfo)
	_want=$((_boot * _pct / 100))
	[ $_want -ge $((256 << 20)) ] || _want=$((256 << 20))
	_want=$(((_want + _block - 1) / _block * _block))
	expect_eq "global area at $_pct%" "$(printf 0x%x $_want)" "$(printf 0x%x $_global)"
}
