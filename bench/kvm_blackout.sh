#!/bin/sh
# Benchmark: how long running VMs are stopped by a live kernel update, against
# guest RAM (one VM of 256 MiB, 1, 2 and 4 GiB) and the number of VMs (4 of
# 256 MiB), each as a ratio to a plain kexec reboot timed in the same QEMU
# run (once before the cases and once after). One vCPU per VM, idle (asleep
# in the VMM, 10 ms at a time) but for a tick twice a second; 64 MiB of each
# guest's RAM is filled and checked, all of it is allocated and preserved.
#
# Guest RAM is backed as the variant says (vm.conf: kho_variant= on the
# command line): 2 MiB hugetlb pages by default, as on a production host;
# kvm_blackout@thp: shmem in 2 MiB transparent huge pages;
# kvm_blackout@shmem: shmem in 4 KiB pages. One QEMU run per backing.
#
# Eight boots:
#   1: plain reboot; 2: time it, start case 1, live update;
#   3-6: take case N-2 back, start case N-1, live update;
#   7: take case 5 back, plain reboot; 8: time it, print the table.
# "bench-data:" lines carry the figures of each case, the VMM's at the
# preserve (run) and after the restore; harness/bench_report.py puts them
# together with the kernels' log lines into tables and a chart.
. /tests/kho_lib.sh
. /tests/kvm_update_lib.sh

NCASES=5
case_args() {
	case "$1" in
	1) echo "--vms 1 --mem 256" ;;
	2) echo "--vms 1 --mem 1024" ;;
	3) echo "--vms 1 --mem 2048" ;;
	4) echo "--vms 1 --mem 4096" ;;
	5) echo "--vms 4 --mem 256" ;;
	esac
}
case_mib() {	# guest RAM of case N, all VMs
	case "$1" in
	1) echo 256 ;; 2) echo 1024 ;; 3) echo 2048 ;; 4) echo 4096 ;; 5) echo 1024 ;;
	esac
}

backing=$(sed -n 's/.*kho_variant=\([a-z]*\).*/\1/p' /proc/cmdline)
backing=${backing:-hugetlb}
THP_SHMEM=/sys/kernel/mm/transparent_hugepage/shmem_enabled

# ready_backing N: what case N's guest RAM needs from this kernel
ready_backing() {
	_want=$(($(case_mib $1) / 2))
	case "$backing" in
	hugetlb)
		# the pool: the VMM allocates every page at start (the
		# next kernel takes preserved pages back as surplus pages
		# and needs none free)
		echo $_want > /proc/sys/vm/nr_hugepages
		_got=$(cat /proc/sys/vm/nr_hugepages)
		[ "$_got" -ge $_want ] ||
			fail "case $1: only $_got of $_want 2 MiB huge pages could be reserved" ;;
	thp)
		# "always": this kernel has no madvise() for MADV_HUGEPAGE
		echo always > $THP_SHMEM || fail "cannot set $THP_SHMEM" ;;
	shmem)
		[ ! -w $THP_SHMEM ] || echo never > $THP_SHMEM ;;
	*)
		fail "unknown backing $backing (kho_variant=)" ;;
	esac
}

stage=$1
case "$stage" in
1)
	rm -f results
	plain_reboot 2 ;;
[2-8])
	if [ "$stage" = 2 ] || [ "$stage" = $((NCASES + 3)) ]; then
		plain=$($VMM since plain.tsc)
		echo "plain=$plain" >> results
		echo "bench-data: plain backing=$backing ms=$plain"
	fi
	n=$((stage - 2))
	if [ $n -ge 1 ] && [ $n -le $NCASES ]; then
		$VMM restore --session bench --quiet --prefix kvm --ticks 3 > restore.out 2>&1 ||
			{ cat restore.out; fail "case $n ($(case_args $n), $backing): the VMs did not come back whole"; }
		map=$(dmesg | sed -n 's/.*KHO: incoming map: .*checked and reserved in \([0-9]*\) us.*/\1/p' | head -n1)
		data="case=$n $(sed -n "s/^kvm-data: //p" restore.out) map_us=${map:-0}"
		echo "$data" >> results
		echo "bench-data: restore $data"
	fi
	n=$((stage - 1))
	if [ $n -le $NCASES ]; then
		ready_backing $n
		VMM_OUT=run.out start_vmm kvm --session bench --quiet --vcpus 1 --fill 64 \
			--backing $backing $(case_args $n)
		echo "bench-data: run case=$n $(sed -n "s/^kvm-data: //p" run.out)"
		live_update $((stage + 1)) kvm
	fi
	if [ "$stage" = $((NCASES + 2)) ]; then
		echo 0 > /proc/sys/vm/nr_hugepages
		plain_reboot $((stage + 1))
	fi
	# the last stage: the table
	awk '
	function v(line, key,   i, n, w) {
		n = split(line, w, " ")
		for (i = 1; i <= n; i++)
			if (index(w[i], key "=") == 1)
				return substr(w[i], length(key) + 2)
		return ""
	}
	/^plain=/ { p[np++] = substr($0, 7) + 0; next }
	/^case=/ { c[nc++] = $0 }
	END {
		mean = np ? (p[0] + p[np - 1]) / 2 : 0
		printf "bench: VM blackout across a live kernel update (1 vCPU per VM; guest RAM: %s), against a plain kexec reboot\n", backing
		printf "bench: plain kexec reboot, reboot() to userspace, nothing preserved: %d ms before the cases, %d ms after (mean %d ms)\n", p[0], p[np - 1], mean
		printf "bench: %-12s %9s %6s %11s %10s %9s %8s %9s\n", "case", "preserved", "copied", "blackout", "guest saw", "map check", "restore", "/ plain"
		for (i = 0; i < nc; i++) {
			vms = v(c[i], "vms"); mib = v(c[i], "preserved_mib")
			b = v(c[i], "blackout_kernel_ms")
			map = v(c[i], "map_us") + 0
			printf "bench: %-12s %5d MiB %6d %8.0f ms %7d ms %9s %5d ms %9.2f\n", \
				vms " x " (mib / vms >= 1024 ? mib / vms / 1024 " GiB" : mib / vms " MiB"), \
				mib, v(c[i], "copied"), b, v(c[i], "blackout_guest_ms"), \
				map ? sprintf("%d ms", map / 1000) : "-", \
				v(c[i], "restore_ms"), mean ? b / mean : 0
		}
		printf "bench: blackout: from finalize capturing a vCPU to it running again (kernel log, the longest); guest saw: the pause the guests measured with their TSC (the longest)\n"
		printf "bench: map check: the next kernel checking and reserving the preserved memory at boot, as it logs it (-: it logged 0, its clock not running yet); restore: VMM start to the last vCPU created (retrieve, rebuild, memslots; and, when it starts that early, waiting for the kernel'"'"'s refined TSC calibration)\n"
		printf "bench: under TCG every time is emulated and the host is shared: compare ratios\n"
	}' backing="$backing" results
	exit 0 ;;
esac
fail "unexpected stage $stage"
