#!/bin/sh
# A TSC calibration record that does not fit this machine is refused: each
# kernel finalizes, damages one field of the record it hands over (the
# state tree's checksums made good again, so that only the TSC code can
# catch it) and kexecs; the next one must say why it refuses the rate and
# calibrate as usual. Stage 2: a rate 65.536 MHz off; stage 3: another
# CPU model; stage 4: a format version it does not know.
. /tests/kho_lib.sh
. /tests/kho_tsc_lib.sh

# hand over a damaged record: byte OFFSET of PROP XORed with MASK
hand_over_damaged() {
	tsc_wait_final
	kho_write $KHO/out/finalize 1 || fail "finalize"
	kho_write $KHO/test/corrupt "prop x86-tsc $1 $2 $3" ||
		fail "damage the x86-tsc record: is it in the handover?"
	exit $NEXT_STAGE
}

case "$1" in
1)
	# struct x86_tsc_kho_ser: tsc_khz is bytes 0-3, little-endian
	hand_over_damaged calibration 2 0x01 ;;
2)
	tsc_expect_refused "ppm away"
	# model is bytes 8-11
	hand_over_damaged calibration 8 0x01 ;;
3)
	tsc_expect_refused "measured on another CPU"
	# "x86-tsc-v1" becomes "x86-tsc-v9"
	hand_over_damaged compatible 9 0x08 ;;
4)
	tsc_expect_refused "its format is not x86-tsc-v1"
	exit 0 ;;
esac
fail "unexpected stage $1"
