#!/bin/sh
# The TSC calibration across KHO kexecs: stage 1 notes its refined TSC
# rate and kexecs; the next kernel takes that rate from the handover
# instead of calibrating again (no refined calibration, tsc clocksource
# from the start), and hands it on: a third kernel takes it too.
. /tests/kho_lib.sh
. /tests/kho_tsc_lib.sh

case "$1" in
1)
	echo "CPU: $(grep -m1 'model name' /proc/cpuinfo); TSC flags:" \
		"$(grep -m1 -o -w -E 'constant_tsc|nonstop_tsc|hypervisor|tsc_known_freq' /proc/cpuinfo | tr '\n' ' ')"
	tsc_wait_final
	tsc_refined
	echo "refined TSC rate: $REFINED MHz"
	echo "$REFINED" > tsc.mhz
	exit $NEXT_STAGE ;;
2|3)
	tsc_expect_used "$(cat tsc.mhz)"
	[ "$1" = 3 ] && exit 0
	exit $NEXT_STAGE ;;
esac
fail "unexpected stage $1"
