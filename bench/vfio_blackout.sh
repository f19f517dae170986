#!/bin/sh
# Benchmark: how long a VM stops across a live kernel update with a
# passthrough device and without one, each as a ratio to a plain kexec
# reboot timed in the same QEMU run (once before the cases, once after).
# Without: the demo VMM, one vCPU, 16 MiB of guest RAM. With: the
# vfio_kho_vm selftest's VMM, one vCPU, 4 MiB of guest RAM, and edu passed
# through, its DMA driven by the guest all along; its memfd, iommufd, edu's
# device file and VM are carried. The blackout is the kernel's: from the
# vCPU stopped at finalize to it running again, so it includes each VMM's
# restore. Five boots:
#   1: plain reboot; 2: time it, start the VM without a device, update;
#   3: take it back, start the VM with edu, update;
#   4: take it back, plain reboot; 5: time it, print the table.
. /tests/kho_lib.sh
. /tests/kvm_update_lib.sh

# the blackout of vCPU 0 of the VM resumed last, as the kernel logged it
blackout_ms() {
	dmesg | sed -n 's/.*vCPU 0 resumed, \([0-9]*\) us after it was stopped.*/\1/p' |
		tail -n1 | awk '{ printf "%d", $1 / 1000 }'
}

case "$1" in
1)
	rm -f results
	plain_reboot 2 ;;
2)
	echo "plain=$($VMM since plain.tsc)" >> results
	# the same backing as the passthrough guest's (vfio_kho_vm): shmem
	VMM_OUT=run.out start_vmm kvm --session bench --quiet --vms 1 --vcpus 1 \
		--backing shmem --mem 16 --fill 8
	live_update 3 kvm ;;
3)
	$VMM restore --session bench --quiet --prefix kvm --ticks 3 > restore.out 2>&1 ||
		{ cat restore.out; fail "the VM without a device did not come back whole"; }
	echo "case=no-device ms=$(blackout_ms)" >> results
	grep -qs 0x11e8 /sys/bus/pci/devices/*/device || fail "no edu device"
	mkdir -p pt
	(cd pt && /tests/vfio_kho_vm 1 > out.1 2>&1)
	[ $? = 10 ] || { cat pt/out.1; fail "the passthrough VMM failed"; }
	live_update 4 kvm ;;
4)
	(cd pt && /tests/vfio_kho_vm 2 > out.2 2>&1) ||
		{ cat pt/out.2; fail "the passthrough VM did not come back whole"; }
	echo "case=passthrough ms=$(blackout_ms)" >> results
	plain_reboot 5 ;;
5)
	echo "plain=$($VMM since plain.tsc)" >> results
	awk '
	/^plain=/ { p[np++] = substr($0, 7) + 0; next }
	/^case=/ { split($1, c, "="); split($2, m, "="); name[nc] = c[2]; ms[nc++] = m[2] + 0 }
	END {
		mean = np ? (p[0] + p[np - 1]) / 2 : 0
		printf "bench: VM blackout across a live kernel update, with and without a passthrough device (1 vCPU each)\n"
		printf "bench: plain kexec reboot, reboot() to userspace, nothing preserved: %d ms before the cases, %d ms after (mean %d ms)\n", p[0], p[np - 1], mean
		printf "bench: %-40s %11s %9s\n", "case", "blackout", "/ plain"
		for (i = 0; i < nc; i++)
			printf "bench: %-40s %8d ms %9.2f\n", \
				name[i] == "passthrough" ? "edu passed through, 4 MiB guest RAM" : "no device, 16 MiB guest RAM", \
				ms[i], mean ? ms[i] / mean : 0
		if (nc == 2 && ms[0])
			printf "bench: with the device / without: %.2f\n", ms[1] / ms[0]
		printf "bench: blackout: vCPU stopped at finalize to running again, as the kernel logs it, each VMM restore included\n"
		printf "bench: under TCG every time is emulated and the host is shared: compare ratios\n"
	}' results
	exit 0 ;;
esac
fail "unexpected stage $1"
