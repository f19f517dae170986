#!/bin/sh
# The kexec_handover KUnit suite runs at boot; check its KTAP verdicts.
. /tests/kho_lib.sh

dmesg | grep -E "(# Subtest: kexec_handover|ok [0-9]+ (kho_|kexec_handover))" |
	sed 's/^\[[^]]*\] *//'
dmesg | grep -qE "ok [0-9]+ kexec_handover$" || fail "kexec_handover suite did not report"
if dmesg | grep -E "not ok [0-9]+ (kho_|kexec_handover)"; then
	fail "KUnit: $(dmesg | grep -m1 -E 'not ok [0-9]+ (kho_|kexec_handover)')"
fi
dmesg | grep -E "ok [0-9]+ (kho_|kexec_handover).*# SKIP" && fail "KUnit cases skipped: KHO not active?"
exit 0
