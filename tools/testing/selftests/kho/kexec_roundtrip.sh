#!/bin/sh
# A plain kexec round trip, no KHO: proves the harness. Stage 1 leaves a
# random token on the next kernel's command line and notes its boot id;
# stage 2 checks that it runs a new kernel (new boot id) that got the token.
. /tests/kho_lib.sh

case "$1" in
1)
	cat /proc/sys/kernel/random/boot_id > boot_id.1
	token=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
	echo "$token" > token
	next_cmdline "kho_roundtrip_token=$token"
	echo "boot 1: boot_id $(cat boot_id.1), token $token"
	exit $NEXT_STAGE ;;
2)
	expect_eq "stage" 2 "$(cmdline_arg kho_stage)"
	expect_eq "token on the new command line" "$(cat token)" \
		"$(cmdline_arg kho_roundtrip_token)"
	expect_ne "boot_id after kexec" "$(cat boot_id.1)" \
		"$(cat /proc/sys/kernel/random/boot_id)"
	exit 0 ;;
esac
fail "unexpected stage $1"
