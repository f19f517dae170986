#!/bin/sh
# The `make demo` scenario: a running VM across a host kernel update, in one
# QEMU run with three kernel boots. Lines starting with "demo:" form the
# report, "demo-data:" lines its figures, "guest:" lines are the guest's
# serial output (harness/demo.py puts them together).
#
# boot 1: a plain kexec reboot, nothing preserved, timed by the TSC;
# boot 2: a VMM starts a 2-vCPU guest on 258 MiB of hugetlb memfd (2 MiB
#         pages, as on a production host; 4 KiB shmem is covered by the
#         kvm/kho selftests and bench/kvm_blackout@shmem) and
#         preserves it in a Live Update session; kho-update loads the next
#         kernel, finalizes (the VM is quiesced) and kexecs, the VMM running
#         its guest until then;
# boot 3: the VMM, started in restore mode, takes the VM back and runs it
#         on: same physical pages, ticks going on, memory intact.
#
# Next to it, where the machine has QEMU's edu device behind VT-d, a second
# VMM (the vfio_kho_vm selftest) runs a guest with edu passed through; the
# guest drives edu's DMA itself and checks every transfer. Its guest RAM,
# iommufd, edu's vfio device file and VM are preserved in a session of
# their own, edu keeps running through the update and is never reset.
. /tests/kho_lib.sh
. /tests/kvm_update_lib.sh

case "$1" in
1)
	set -- $(cat $KHO/out/scratch_len)
	echo "demo: boot 1: Linux $(uname -r), kho=on, $# KHO scratch areas ($(for l in "$@"; do printf '%d MiB ' $((l >> 20)); done | sed 's/ $//'))"
	echo "demo: boot 1: first a plain kexec reboot, nothing preserved, to compare with: reboot() at a TSC noted in advance"
	cat /proc/sys/kernel/random/boot_id > boot_id.1
	plain_reboot 2 ;;
2)
	plain=$($VMM since plain.tsc)
	echo "$plain" > plain.ms
	echo "demo: boot 2: up $plain ms after reboot() (the plain kexec reboot, from reboot() to this userspace)"
	echo "demo-data: plain_ms=$plain"
	expect_ne "boot id" "$(cat boot_id.1)" "$(cat /proc/sys/kernel/random/boot_id)" > /dev/null
	# guest RAM in 2 MiB hugetlb pages: the pool must have them free
	# (the next kernel takes the preserved ones back as surplus pages)
	echo 129 > /proc/sys/vm/nr_hugepages
	[ "$(cat /proc/sys/vm/nr_hugepages)" -ge 129 ] ||
		fail "could reserve only $(cat /proc/sys/vm/nr_hugepages) of 129 2 MiB huge pages"
	start_vmm demo --session demo --vms 1 --mem 258 --vcpus 2 --fill 256 --backing hugetlb
	if [ -x /tests/vfio_kho_vm ] && grep -qs 0x11e8 /sys/bus/pci/devices/*/device; then
		echo "demo: boot 2: a second VMM passes edu (QEMU's DMA engine, behind VT-d) through to its guest; the guest drives edu's DMA itself"
		mkdir -p passthrough
		(cd passthrough && /tests/vfio_kho_vm 1 > out.1 2>&1)
		[ $? = 10 ] || { cat passthrough/out.1; fail "the passthrough VMM failed"; }
		sed -n 's/^ok: /demo: boot 2:   passthrough: /p' passthrough/out.1 | grep -v "^demo: boot 2:   passthrough: [A-Z]"
	fi
	echo "demo: boot 2: the VMM runs its guest and holds the session; the operator updates the host kernel under it:"
	live_update 3 demo ;;
3)
	echo "demo: boot 3: Linux $(uname -r), boot id $(cat /proc/sys/kernel/random/boot_id); the VMM starts again, in restore mode"
	dmesg | grep -m1 "KHO: incoming map" | sed 's/.*KHO: incoming map: /demo: boot 3: KHO handover accepted: /'
	$VMM restore --session demo --ticks 4 --plain plain.ms || fail "the VM did not come back whole"
	if [ -d passthrough ]; then
		echo "demo: boot 3: the passthrough VMM takes its VM and edu back: edu's vfio file comes bound and attached, not reset"
		(cd passthrough && /tests/vfio_kho_vm 2 > out.2 2>&1) ||
			{ cat passthrough/out.2; fail "the passthrough VM did not come back whole"; }
		sed -n 's/^vfio_kho_vm: /demo: boot 3:   passthrough: /p' passthrough/out.2
		sed -n 's/^vfio_kho_vm: transfers: \([0-9]*\) before the kexec, \([0-9]*\) after.*/demo-data: pt_before=\1 pt_after=\2/p; s/^vfio_kho_vm: guest blackout \([0-9]*\) ms.*/demo-data: pt_blackout_ms=\1/p' passthrough/out.2
		grep -q "edu never reset" passthrough/out.2 && echo "demo-data: pt_never_reset=1"
	fi
	shown demo kho-update status
	exit 0 ;;
esac
fail "unexpected stage $1"
