# Helpers for shell tests; source with `. /tests/.lib.sh`.
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
