#!/bin/sh
# Helpers for the VM live-update demo and benchmark; source with
# `. /tests/kvm_update_lib.sh` after /tests/kho_lib.sh. The calling stage does
# its own kexec (the init's would come too late: a VMM must be running until
# then), so it packs the root filesystem itself, as the init would.

VMM=/tests/kvm_demo_vmm

# kexec_cmdline STAGE: this kernel's command line, for stage STAGE
kexec_cmdline() {
	_c=""
	for _w in $(cat /proc/cmdline); do
		case "$_w" in kho_stage=*|initrd=*|BOOT_IMAGE=*) ;; *) _c="$_c $_w";; esac
	done
	echo "${_c# } kho_stage=$1"
}

# pack_rootfs: the root filesystem, state directories included, as the
# next kernel's initramfs in /run/initrd.cpio
pack_rootfs() {
	(cd / && find . -xdev | cpio -o -H newc > /run/initrd.cpio 2>/dev/null)
}

# shown PREFIX CMD...: run CMD, show it and its output as PREFIX lines
shown() {
	_p=$1
	shift
	if [ "$1 $2" = "kho-update load" ]; then
		echo "$_p: \$ kho-update load $3 $4 \"$5\""
	else
		echo "$_p: \$ $*"
	fi
	"$@" > shown.out 2>&1
	_rc=$?
	sed "s/^/$_p:   /" shown.out
	[ $_rc = 0 ] || fail "$1 $2: exit status $_rc"
}

# plain_reboot STAGE: kexec into STAGE with nothing preserved, timed. The
# TSC at which reboot() is to be called goes into plain.tsc before the root
# filesystem is packed; the next stage runs `$VMM since plain.tsc`. If the
# packing and loading took longer than planned, plan again with more time.
plain_reboot() {
	_margin=3000
	for _try in 1 2 3 4; do
		$VMM plan plain.tsc $_margin || fail "planning the reboot"
		pack_rootfs || fail "packing the next initramfs"
		kho-update load /boot/bzImage /run/initrd.cpio "$(kexec_cmdline $1)" \
			> load.out 2>&1 || fail "kho-update load: $(cat load.out)"
		$VMM reboot-at plain.tsc
		[ $? = 3 ] || fail "reboot into the next kernel failed"
		_margin=$((_margin * 2))
	done
	fail "could not reboot at a planned time"
}

# start_vmm PREFIX ARGS...: start the VMM (run mode) in the background and
# wait until it has preserved its VMs; sets vmm_pid. Its output goes to
# $VMM_OUT if set, else to ours.
start_vmm() {
	_p=$1
	shift
	rm -f vmm.ready
	if [ -n "$VMM_OUT" ]; then
		$VMM run --ready vmm.ready --prefix "$_p" "$@" > "$VMM_OUT" 2>&1 &
	else
		$VMM run --ready vmm.ready --prefix "$_p" "$@" &
	fi
	vmm_pid=$!
	_n=0
	while [ ! -f vmm.ready ]; do
		if ! kill -0 $vmm_pid 2>/dev/null; then
			wait $vmm_pid
			_rc=$?
			[ -n "$VMM_OUT" ] && cat "$VMM_OUT"
			fail "the VMM exited with status $_rc before its VMs were preserved"
		fi
		_n=$((_n + 1))
		[ $_n -lt 6000 ] || fail "the VMM did not get its VMs preserved in 10 minutes"
		sleep 0.1
	done
}

# live_update STAGE PREFIX: load the next kernel, finalize (the VMs are
# quiesced and captured), kexec into STAGE; shows each kho-update
live_update() {
	pack_rootfs || fail "packing the next initramfs"
	shown "$2" kho-update load /boot/bzImage /run/initrd.cpio "$(kexec_cmdline $1)"
	shown "$2" kho-update finalize
	echo "$2: \$ kho-update kexec"
	kho-update kexec 2>&1 | sed "s/^/$2:   /"
	fail "kho-update kexec returned"
}
