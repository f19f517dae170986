// SPDX-License-Identifier: GPL-2.0
/*
 * A preserved VM through a finalization that is undone: no kexec.
 *
 * The two-vCPU guest of kvm_kho_util.h runs on 66 MiB of memfd; its memfd
 * and VM fd are preserved in a session, and the handover is finalized
 * through debugfs as an orchestrator does before a kexec. Then:
 *
 *  - each vCPU thread in KVM_RUN got EINTR (exit reason KVM_EXIT_INTR),
 *    nothing else, and its next KVM_RUN sleeps: no more returns, no
 *    reports, the guest's counters in guest RAM stand still (a thread
 *    busy with an exit in userspace gets no EINTR: its next KVM_RUN just
 *    sleeps; over the two finalizes at least one EINTR must come);
 *  - the VM's other ioctls fail with EBUSY: vCPU ioctls (KVM_GET_REGS from
 *    the main thread) and VM ioctls (KVM_SET_USER_MEMORY_REGION,
 *    KVM_CREATE_VCPU, KVM_CHECK_EXTENSION); Live Update refuses new
 *    sessions and files;
 *  - the handover preserves the guest RAM and the captured vCPU state.
 *
 * Writing 0 to the finalize file undoes it: the guest goes on where it
 * was, counters and checksum passes advancing, ioctls working, the kernel
 * saying "VM resumed: the handover was aborted". A second freeze and abort
 * does the same. Closing the session then unpreserves everything: the
 * guest still runs, the handover preserves as many pages as before the
 * test, and the VM can be preserved again.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define REGION		(64U << 20)
#define TAG		0x61626f72	/* "abor" */
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define FROZEN_MS	1500

static const char *const quiesced = "kvm-kho: VM quiesced: 2 vCPUs captured";
static const char *const aborted = "kvm-kho: VM resumed: the handover was aborted";

/* @ret from an ioctl must be -1 with errno @want */
static void expect_errno(const char *what, int ret, int want)
{
	if (ret >= 0)
		fail("%s succeeded (%d), expected %s", what, ret,
		     strerror(want));
	if (errno != want)
		fail("%s: %s, expected %s", what, strerror(errno),
		     strerror(want));
	msg("ok: %s: %s", what, strerror(want));
}

/* the counters in guest RAM */
static void read_counts(struct kk_vm *vm, uint32_t *c)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		c[i] = __atomic_load_n(&kk_slot(vm, i)->count, __ATOMIC_RELAXED);
}

/*
 * After the finalize: the vCPU threads that were in KVM_RUN get EINTR with
 * KVM_EXIT_INTR; one that was handling an exit in userspace just finds its
 * next KVM_RUN sleeping. (One that stayed in KVM_RUN would have kept its
 * vCPU mutex, and the capture that takes it would not have finished.)
 * Wait until no KVM_RUN has returned for 300 ms (10 s at most), check
 * every return since @eintr0/@try0 was such an EINTR, and count the
 * threads that got one into *@kicked.
 */
static void wait_kicked(struct kk_vm *vm, const uint64_t *eintr0,
			const uint64_t *try0, int *kicked)
{
	uint64_t last = ~0ULL, n;
	double t0 = kk_now(), quiet = t0;
	int i, k = 0;

	for (;;) {
		kk_check_healthy(vm);
		pthread_mutex_lock(&vm->lock);
		for (i = 0, n = 0; i < vm->nr_vcpus; i++)
			n += vm->vcpu[i].retries;
		pthread_mutex_unlock(&vm->lock);
		if (n != last) {
			last = n;
			quiet = kk_now();
		} else if (kk_now() - quiet >= 0.3) {
			break;
		}
		if (kk_now() - t0 > 10)
			fail("finalized, but KVM_RUN keeps returning after 10 s: it does not sleep");
		kk_sleep_ms(10);
	}
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];

		if (v->retries - try0[i] != v->eintr - eintr0[i] || v->eintr_odd) {
			pthread_mutex_unlock(&vm->lock);
			fail("vCPU %d: KVM_RUN returned %" PRIu64 " times after the finalize, %" PRIu64
			     " of them EINTR, %" PRIu64 " EINTR without KVM_EXIT_INTR: %s",
			     i, v->retries - try0[i], v->eintr - eintr0[i],
			     v->eintr_odd, v->why[0] ? v->why : "expected EINTR only");
		}
		k += v->eintr > eintr0[i];
	}
	pthread_mutex_unlock(&vm->lock);
	*kicked += k;
	msg("ok: %d of %d vCPU threads got EINTR (KVM_EXIT_INTR) out of KVM_RUN, no other return; the rest were outside it",
	    k, vm->nr_vcpus);
}

/*
 * Frozen: for @ms, the counters in guest RAM do not move, no report comes
 * and KVM_RUN does not return (its threads at most retry once more).
 */
static void check_frozen(struct kk_vm *vm, unsigned int ms)
{
	uint32_t c0[KK_MAX_VCPUS], c1[KK_MAX_VCPUS];
	uint64_t rep0[KK_MAX_VCPUS], try0[KK_MAX_VCPUS];
	unsigned int t;
	int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		rep0[i] = vm->vcpu[i].reports;
		try0[i] = vm->vcpu[i].retries;
	}
	pthread_mutex_unlock(&vm->lock);
	read_counts(vm, c0);
	for (t = 0; t < ms; t += 100) {
		kk_sleep_ms(100);
		read_counts(vm, c1);
		for (i = 0; i < vm->nr_vcpus; i++)
			if (c1[i] != c0[i])
				fail("frozen, but vCPU %d's counter in guest RAM moved: %u -> %u after %u ms",
				     i, c0[i], c1[i], t + 100);
	}
	kk_check_healthy(vm);
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct kk_vcpu *v = &vm->vcpu[i];

		if (v->reports != rep0[i] || v->retries > try0[i] + 2) {
			pthread_mutex_unlock(&vm->lock);
			fail("frozen, but vCPU %d: %" PRIu64 " reports and %" PRIu64
			     " KVM_RUN returns in %u ms: KVM_RUN does not sleep",
			     i, v->reports - rep0[i], v->retries - try0[i], ms);
		}
	}
	pthread_mutex_unlock(&vm->lock);
	msg("ok: frozen for %u ms: counters stay at %u and %u, no report, KVM_RUN sleeps",
	    ms, c0[0], c0[1]);
}

/* Running again after the abort: counters past @frozen, checksum passes. */
static void check_running(struct kk_vm *vm, const uint32_t *frozen,
			  const char *when)
{
	char what[96];
	uint32_t c[KK_MAX_VCPUS];
	int i;

	snprintf(what, sizeof(what), "the guest to go on %s", when);
	kk_wait_more(vm, 120, what, 3, 1);
	read_counts(vm, c);
	for (i = 0; i < vm->nr_vcpus; i++)
		if ((int32_t)(c[i] - frozen[i]) <= 0)
			fail("vCPU %d: counter %u %s, not past the frozen %u", i,
			     c[i], when, frozen[i]);
	msg("ok: guest goes on %s: counters %u -> %u and %u -> %u, checksum pass %u",
	    when, frozen[0], c[0], frozen[1], c[1], vm->vcpu[1].passes);
}

static void freeze(struct kk_vm *vm, int nq, int *kicked)
{
	uint64_t eintr0[KK_MAX_VCPUS], try0[KK_MAX_VCPUS];
	int ret, i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nr_vcpus; i++) {
		eintr0[i] = vm->vcpu[i].eintr;
		try0[i] = vm->vcpu[i].retries;
	}
	pthread_mutex_unlock(&vm->lock);
	ret = kk_kho_finalize(true);
	if (ret) {
		kk_dmesg_show("kvm-kho");
		fail("finalize the handover with the VM preserved: %s",
		     strerror(-ret));
	}
	if (kk_kho_finalized() != 1)
		fail("finalize succeeded but %s does not read 1", KK_KHO_FINALIZE);
	if (kk_dmesg_count(quiesced) != nq)
		fail("finalized: %d \"%s\" lines in the kernel log, expected %d",
		     kk_dmesg_count(quiesced), quiesced, nq);
	msg("ok: finalized; kernel log: \"%s\"", quiesced);
	wait_kicked(vm, eintr0, try0, kicked);
}

static void unfreeze(int na)
{
	int ret = kk_kho_finalize(false);

	if (ret)
		fail("unfreeze (write 0 to %s): %s", KK_KHO_FINALIZE,
		     strerror(-ret));
	if (kk_kho_finalized() != 0)
		fail("unfrozen but %s does not read 0", KK_KHO_FINALIZE);
	if (kk_dmesg_count(aborted) != na) {
		kk_dmesg_show("kvm-kho");
		fail("unfrozen: %d \"%s\" lines in the kernel log, expected %d",
		     kk_dmesg_count(aborted), aborted, na);
	}
	msg("ok: unfrozen; kernel log: \"%s\"", aborted);
}

/* A single stage: no kexec. */
static int stage1(void)
{
	struct kvm_userspace_memory_region slot1;
	uint32_t frozen[KK_MAX_VCPUS], sum;
	long pages0, pages1, pages2, min;
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	struct kvm_regs regs;
	int dev, session, s2, memfd2, ret, i, nq, na, kicked = 0;
	struct kk_vm vm;
	double t0 = kk_now();

	dev = luo_open();
	pages0 = kk_kho_count_preserved();
	msg("# before the test the handover preserves %ld pages", pages0);
	nq = kk_dmesg_count(quiesced);
	na = kk_dmesg_count(aborted);

	kk_vm_init(&vm, "guest.log");
	kk_create_guest(&vm, REGION);
	*kk_ctl32(&vm, KK_CTL_TAG) = TAG;
	kk_start(&vm);
	kk_wait(&vm, 120, "the guest to run", kk_reached, want);
	msg("ok: guest running on %" PRIu64 " MiB: counters %u and %u, checksum %#x, %u pass(es)",
	    vm.mem_size >> 20, vm.vcpu[0].last_count, vm.vcpu[1].last_count,
	    vm.init_csum, vm.vcpu[1].passes);

	session = luo_open_session(dev, "kvm-abort", true);
	kk_preserve_vm(&vm, "kvm-abort", session, TOKEN_MEM, TOKEN_VM);
	msg("ok: preserved the memfd and the VM in session \"kvm-abort\"");
	kk_wait_more(&vm, 60, "reports after the preserve", 2, 0);

	/* ----- finalize: the VM is quiesced ----- */
	freeze(&vm, ++nq, &kicked);
	pages1 = kk_kho_last_preserved_pages();
	min = pages0 + (long)(vm.mem_size >> 12) + 3;
	if (pages1 < min)
		fail("finalized with %ld pages preserved, expected at least %ld: %ld before, %" PRIu64
		     " of guest RAM, a VM and 2 vCPU records",
		     pages1, min, pages0, vm.mem_size >> 12);
	msg("ok: the handover preserves %ld pages (%ld before: guest RAM and the VM state added)",
	    pages1, pages0);
	check_frozen(&vm, FROZEN_MS);
	read_counts(&vm, frozen);

	for (i = 0; i < vm.nr_vcpus; i++) {
		char what[64];

		snprintf(what, sizeof(what), "vCPU %d KVM_GET_REGS while frozen", i);
		expect_errno(what, ioctl(vm.vcpu[i].fd, KVM_GET_REGS, &regs), EBUSY);
	}
	slot1 = (struct kvm_userspace_memory_region) {
		.slot = 1, .guest_phys_addr = 1ULL << 32,
		.memory_size = 2 << 20, .userspace_addr = (uintptr_t)vm.mem,
	};
	expect_errno("KVM_SET_USER_MEMORY_REGION (a new slot 1) while frozen",
		     ioctl(vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &slot1), EBUSY);
	expect_errno("KVM_CREATE_VCPU 2 while frozen",
		     ioctl(vm.vm_fd, KVM_CREATE_VCPU, 2UL), EBUSY);
	expect_errno("KVM_CHECK_EXTENSION on the VM while frozen",
		     ioctl(vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), EBUSY);

	memfd2 = memfd_create("kvm-kho-abort-other", MFD_CLOEXEC);
	if (memfd2 < 0 || ftruncate(memfd2, 1 << 20))
		fail("another memfd: %s", strerror(errno));
	ret = luo_preserve_fd(session, memfd2, 3);
	if (ret != -EBUSY)
		fail("preserve another memfd while frozen: %s, expected EBUSY",
		     ret ? strerror(-ret) : "success");
	s2 = luo_create_session(dev, "kvm-abort-2");
	if (s2 != -EBUSY)
		fail("create a session while frozen: %s, expected EBUSY",
		     s2 < 0 ? strerror(-s2) : "success");
	msg("ok: Live Update while frozen: new sessions and files EBUSY");
	ret = kk_kho_finalize(true);
	if (ret != -EEXIST)
		fail("finalize again while finalized: %s, expected EEXIST",
		     ret ? strerror(-ret) : "success");
	check_frozen(&vm, 300);

	/* ----- abort: the guest goes on ----- */
	unfreeze(++na);
	check_running(&vm, frozen, "after the abort");
	if (ioctl(vm.vcpu[0].fd, KVM_GET_REGS, &regs))
		fail("vCPU 0 KVM_GET_REGS after the abort: %s", strerror(errno));
	ret = ioctl(vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP);
	if (ret <= 0)
		fail("KVM_CHECK_EXTENSION(KVM_CAP_IRQCHIP) on the VM after the abort: %s",
		     ret < 0 ? strerror(errno) : "0");
	msg("ok: vCPU and VM ioctls work again after the abort");

	/* ----- once more ----- */
	freeze(&vm, ++nq, &kicked);
	check_frozen(&vm, 1000);
	read_counts(&vm, frozen);
	unfreeze(++na);
	check_running(&vm, frozen, "after a second abort");

	if (!kicked)
		fail("two finalizes and no vCPU thread ever got EINTR out of KVM_RUN: the kick does not work");

	/* ----- closing the session unpreserves all ----- */
	close(session);
	kk_wait_more(&vm, 60, "the guest after the session was closed", 2, 1);
	msg("ok: session closed: the guest goes on, counters %u and %u",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count);
	pages2 = kk_kho_count_preserved();
	if (pages2 != pages0)
		fail("after the session was closed the handover preserves %ld pages, %ld before the test",
		     pages2, pages0);
	if (kk_dmesg_count(quiesced) != nq)
		fail("a finalize with the session closed quiesced the VM");
	msg("ok: after the session was closed the handover preserves %ld pages, as before the test, and does not touch the VM",
	    pages2);
	kk_wait_more(&vm, 60, "the guest after that finalize", 2, 0);

	s2 = luo_create_session(dev, "kvm-abort-2");
	if (s2 < 0)
		fail("create a second session: %s", strerror(-s2));
	ret = luo_preserve_fd(s2, vm.vm_fd, TOKEN_VM);
	if (ret)
		fail("preserve the VM again after its session was closed: %s",
		     strerror(-ret));
	close(s2);
	msg("ok: the VM can be preserved again once its session is gone");

	kk_wait_more(&vm, 60, "the guest at the end", 2, 1);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	sum = kk_host_verify_region(&vm, "at the end");
	if (sum != vm.init_csum)
		fail("host-side checksum %#x, the guest's %#x", sum, vm.init_csum);
	kk_check_counters(&vm);
	msg("ok: host side: %u MiB of pattern intact, checksum %#x; %u checksum passes, counters %u and %u",
	    REGION >> 20, sum, vm.vcpu[1].passes, vm.vcpu[0].last_count,
	    vm.vcpu[1].last_count);
	msg("# %.1f s", kk_now() - t0);
	close(memfd2);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_abort", LUO_STAGES(stage1));
}
