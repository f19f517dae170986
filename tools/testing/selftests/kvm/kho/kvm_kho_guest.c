// SPDX-License-Identifier: GPL-2.0
/*
 * The KVM guest of the Live Update tests, without a kexec: a VM with an
 * in-kernel irqchip, 258 MiB of shmem memfd at GPA 0 and two vCPUs. vCPU 0
 * fills 256 MiB with a pattern; both then count, and vCPU 1 re-checks the
 * 256 MiB checksum over and over. The test waits until both counters were
 * reported a few times and two checksum passes came back, stops the vCPUs,
 * and checks from the host side that the pattern and the counters in guest
 * RAM agree with what the guest reported. Last, vCPU 1 is pointed at a
 * UD2: the guest's exception stubs must report #UD there, not let the
 * vCPU triple-fault.
 *
 * Under QEMU TCG the guest is a nested SVM guest of the test kernel, so it
 * is slow; the figures it prints are for comparing, not absolute.
 */
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define MIN_REPORTS	4
#define MIN_PASSES	2

static bool guest_done(struct kk_vm *vm, void *arg)
{
	(void)arg;
	return vm->init_seen && vm->vcpu[0].reports >= MIN_REPORTS &&
	       vm->vcpu[1].reports >= MIN_REPORTS &&
	       vm->vcpu[1].passes >= MIN_PASSES;
}

/* Run vCPU 1 into a UD2 and expect the guest to report the #UD. */
static void check_exception_report(struct kk_vm *vm)
{
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	struct kk_vcpu *v = &vm->vcpu[1];
	struct kvm_regs regs;
	char want[64];
	double t0;
	int i;

	memcpy(vm->mem + KK_CTL_TAG, ud2, sizeof(ud2));
	if (ioctl(v->fd, KVM_GET_REGS, &regs))
		fail("KVM_GET_REGS: %s", strerror(errno));
	regs.rip = KK_CTL_TAG;
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		fail("KVM_SET_REGS: %s", strerror(errno));
	vm->stop = 0;
	for (i = 0; i < vm->nr_vcpus; i++)
		vm->vcpu[i].run->immediate_exit = 0;
	kk_start(vm);
	for (t0 = kk_now(); ; kk_sleep_ms(50)) {
		pthread_mutex_lock(&vm->lock);
		if (v->stopped || kk_now() - t0 > 120)
			break;
		pthread_mutex_unlock(&vm->lock);
	}
	snprintf(want, sizeof(want), "vector 6, error code 0, at EIP %#x",
		 KK_CTL_TAG);
	if (!v->stopped || !strstr(v->why, want)) {
		pthread_mutex_unlock(&vm->lock);
		fail("vCPU 1 at a UD2: %s, expected \"%s\"",
		     v->stopped ? v->why : "still running after 120 s", want);
	}
	msg("ok: a guest exception is reported: \"%s\"", v->why);
	pthread_mutex_unlock(&vm->lock);
	kk_stop(vm);
}

/* A single stage: the guest, no kexec. */
static int stage1(void)
{
	double t0, t_init, t_done, dt;
	uint64_t h0;
	struct kk_vm vm;
	uint32_t host_sum;
	int i;

	kk_vm_init(&vm, "guest.log");
	kk_create_guest(&vm, KK_REGION_SIZE);

	t0 = kk_now();
	h0 = kk_rdtsc();
	kk_start(&vm);
	kk_wait(&vm, 600, "the guest to run", guest_done, NULL);
	t_done = kk_now();
	kk_stop(&vm);
	kk_check_healthy(&vm);

	pthread_mutex_lock(&vm.lock);
	t_init = (double)(vm.init_host - h0) / vm.tsc_hz;
	msg("ok: vCPU 0 filled %u MiB, checksum %#x, in %.1f s",
	    KK_REGION_SIZE >> 20, vm.init_csum, t_init);
	for (i = 0; i < vm.nr_vcpus; i++) {
		struct kk_vcpu *v = &vm.vcpu[i];

		dt = (double)(v->last_tsc - v->first_tsc) / vm.tsc_hz;
		msg("ok: vCPU %d: %" PRIu64 " reports, counter %u -> %u, %.0f increments/s of guest TSC time",
		    i, v->reports, v->first_count, v->last_count,
		    dt > 0 ? (v->last_count - v->first_count) / dt : 0);
	}
	dt = vm.vcpu[1].pass_reports > 1 ?
		(double)(vm.vcpu[1].last_pass_host - vm.vcpu[1].first_pass_host) /
		vm.tsc_hz / (vm.vcpu[1].pass_reports - 1) : 0;
	msg("ok: vCPU 1: %u checksum passes of %u MiB, %.1f s each",
	    vm.vcpu[1].passes, KK_REGION_SIZE >> 20, dt);
	pthread_mutex_unlock(&vm.lock);
	msg("# %.1f s from the first KVM_RUN to done", t_done - t0);

	/* what the guest wrote, seen through the host mapping */
	if (*kk_ctl32(&vm, KK_CTL_CSUM) != vm.init_csum)
		fail("checksum in the control page %#x, reported %#x",
		     *kk_ctl32(&vm, KK_CTL_CSUM), vm.init_csum);
	host_sum = kk_host_verify_region(&vm, "after the run");
	if (host_sum != vm.init_csum)
		fail("host-side checksum %#x, the guest's %#x", host_sum,
		     vm.init_csum);
	msg("ok: host side: %u MiB of pattern intact, checksum %#x as the guest's",
	    KK_REGION_SIZE >> 20, host_sum);
	kk_check_counters(&vm);
	check_exception_report(&vm);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_guest", LUO_STAGES(stage1));
}
