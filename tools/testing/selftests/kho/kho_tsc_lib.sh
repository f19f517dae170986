# Helpers of the kho_tsc* tests: the TSC calibration handed over by KHO.
# Source after kho_lib.sh.

CS=/sys/devices/system/clocksource/clocksource0/current_clocksource
TSC_USED="tsc: using the TSC calibration handed over by the previous kernel"
TSC_REFUSED="tsc: not using the TSC calibration handed over by the previous kernel"
TSC_REFINED="tsc: Refined TSC clocksource calibration"

tsc_show_log() { dmesg | grep -E 'tsc: |clocksource: Switched' | sed 's/^/dmesg: /'; }

# tsc_wait_final: wait (up to 60 s) for the tsc clocksource, which this
# kernel registers once its TSC rate is final, the rate it hands over
tsc_wait_final() {
	i=0
	while [ "$(cat $CS)" != tsc ]; do
		i=$((i + 1))
		[ $i -le 600 ] || { tsc_show_log; fail "clocksource still $(cat $CS) after 60 s"; }
		sleep 0.1
	done
	echo "ok: clocksource tsc"
}

# tsc_mhz LINE: the first "N.NNN MHz" of LINE
tsc_mhz() { echo "$1" | sed -n 's/[^0-9]*\([0-9]*\.[0-9]\{3\}\) MHz.*/\1/p'; }

# tsc_refined: set REFINED to the rate this kernel's refined calibration
# found; skips the test on a machine that knows its TSC rate without
# calibrating
tsc_refined() {
	line=$(dmesg | grep -m1 "$TSC_REFINED")
	if [ -z "$line" ]; then
		if grep -qw tsc_known_freq /proc/cpuinfo; then
			echo "TSC rate known from the CPU or the hypervisor: no calibration to hand over"
			exit 4
		fi
		tsc_show_log
		fail "no refined TSC calibration in the log"
	fi
	REFINED=$(tsc_mhz "${line#*$TSC_REFINED}")
}

# tsc_expect_used MHZ: this kernel took MHZ from the handover, did not
# calibrate again, and runs on the tsc clocksource
tsc_expect_used() {
	line=$(dmesg | grep -m1 "$TSC_USED")
	[ -n "$line" ] || { tsc_show_log; fail "the handed-over TSC calibration was not used"; }
	echo "dmesg: $line"
	expect_eq "handed-over TSC rate (MHz)" "$1" "$(tsc_mhz "${line#*$TSC_USED}")"
	# the clocksource is final before userspace, not a second later
	expect_eq "clocksource at the start of userspace" tsc "$(cat $CS)"
	# by now the refined calibration would have run and said so
	while [ "$(cut -d. -f1 /proc/uptime)" -lt 8 ]; do sleep 0.5; done
	refined=$(dmesg | grep "$TSC_REFINED")
	[ -z "$refined" ] || fail "calibrated again although the rate was handed over: $refined"
	echo "ok: no refined calibration at $(cut -d' ' -f1 /proc/uptime) s of uptime"
	expect_eq "clocksource" tsc "$(cat $CS)"
}

# tsc_expect_refused REASON: this kernel refused the handed-over rate,
# saying REASON, and calibrated its TSC itself
tsc_expect_refused() {
	line=$(dmesg | grep -m1 "$TSC_REFUSED")
	echo "dmesg: $line"
	case "$line" in
	*"$1"*) ;;
	*) tsc_show_log; fail "expected the handed-over TSC rate refused with '$1'" ;;
	esac
	dmesg | grep -q "$TSC_USED" && fail "refused and used"
	tsc_wait_final
	tsc_refined
	echo "ok: calibrated again, refined to $REFINED MHz"
}
