// SPDX-License-Identifier: GPL-2.0
/*
 * What Live Update refuses to carry, and that a refusal spoils nothing.
 * No kexec: one session, fds preserved and refused, then a finalize and
 * its abort.
 *
 *  - The guest RAM memfd of a good VM is preserved first (token 1).
 *  - A VM whose vCPU offers SVM to its guest (CPUID 0x80000001 ECX bit 2)
 *    is refused with EOPNOTSUPP, and the kernel log says why; so are one
 *    offering VMX (CPUID 1 ECX bit 5, where KVM takes that CPUID), one
 *    with a split irqchip and one with a dirty-logging memslot.
 *  - The session is still usable: the memfd is still in it (preserving it
 *    again fails with EBUSY) and the good VM is preserved under the token
 *    the refused ones asked for (token 2).
 *  - The same VM twice: another token, a dup()ed fd, another session: all
 *    EBUSY; the token taken: EEXIST.
 *  - A vCPU fd and a /dev/kvm fd are no kind of file Live Update knows:
 *    ENOENT ("No registered handler accepts the file").
 *  - A VM preserved while fine and given a vCPU that offers SVM afterwards
 *    makes the finalization fail, leaving nothing frozen; once its session
 *    is closed, finalizing works and captures only the good VM, whose
 *    guest then runs after the abort.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define REGION		(8U << 20)
#define TOKEN_MEM	1
#define TOKEN_VM	2

static const char *const nested_msg =
	"offers nested virtualization, which is not carried";

/*
 * CPUID as KVM supports it with SVM and VMX as asked; a missing leaf
 * 0x80000001 is added for SVM. 0 or -errno of KVM_SET_CPUID2.
 */
static int set_cpuid(struct kk_vcpu *v, bool svm, bool vmx)
{
	struct kvm_cpuid2 *c = kk_supported_cpuid(v->vm->kvm_fd);
	bool ext = false;
	uint32_t i;
	int ret;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ecx = vmx ? e->ecx | 1U << 5 : e->ecx & ~(1U << 5);
		if (e->function == 0x80000001) {
			e->ecx = svm ? e->ecx | 1U << 2 : e->ecx & ~(1U << 2);
			ext = true;
		}
	}
	if (svm && !ext) {
		c->entries[c->nent] = (struct kvm_cpuid_entry2) {
			.function = 0x80000001, .ecx = 1U << 2,
		};
		c->nent++;
	}
	ret = ioctl(v->fd, KVM_SET_CPUID2, c) ? -errno : 0;
	free(c);
	return ret;
}

/* A VM with nothing in it yet: no irqchip, no memslot, no vCPU. */
static void bare_vm(struct kk_vm *vm, int kvm)
{
	kk_vm_init(vm, "guest.log");
	vm->kvm_fd = kvm;
	vm->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		fail("KVM_CREATE_VM: %s", strerror(errno));
	kk_vcpu_mmap_size(vm);
	kk_configure_vm(vm);
}

/* vCPU @id with CPUID as asked; false if KVM refused that CPUID */
static bool add_vcpu(struct kk_vm *vm, int id, bool svm, bool vmx)
{
	struct kk_vcpu *v = kk_add_vcpu(vm, id, false);
	int ret = set_cpuid(v, svm, vmx);

	if (ret && !svm && !vmx)
		fail("vCPU %d: KVM_SET_CPUID2: %s", id, strerror(-ret));
	if (ret) {
		msg("# KVM_SET_CPUID2 with %s for the guest: %s", svm ? "SVM" : "VMX",
		    strerror(-ret));
		return false;
	}
	return true;
}

/* preserving @fd as @token must fail with @want and log @log (if not NULL) */
static void expect_refused(int session, int fd, uint64_t token, int want,
			   const char *what, const char *log)
{
	int before = log ? kk_dmesg_count(log) : 0;
	int ret = luo_preserve_fd(session, fd, token);

	if (ret != -want)
		fail("preserve %s (token %" PRIu64 "): %s, expected %s", what,
		     token, ret ? strerror(-ret) : "success", strerror(want));
	if (log && kk_dmesg_count(log) != before + 1) {
		kk_dmesg_show("kvm-kho");
		fail("preserve %s refused, but the kernel log has no new \"%s\"",
		     what, log);
	}
	msg("ok: preserve %s: %s%s%s%s", what, strerror(want),
	    log ? "; kernel log: \"" : "", log ? log : "", log ? "\"" : "");
}

/* A single stage: no kexec. */
static int stage1(void)
{
	struct kk_vm good, svm, vmx, split, dirty, late;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 } };
	struct kvm_userspace_memory_region r;
	int dev, session, s2, kvm, fd, ret, nq, na, i;
	uint64_t want[KK_MAX_VCPUS + 1] = { 3, 3, 1 };
	struct kvm_regs regs;
	long pages;
	uint32_t sum;

	dev = kk_luo_open();
	if (dev == -ENOENT)
		skip("no /dev/liveupdate: kernel without CONFIG_LIVEUPDATE or kho=off");
	if (dev < 0)
		fail("open /dev/liveupdate: %s", strerror(-dev));
	kvm = kk_open_kvm();
	session = luo_create_session(dev, "kvm-unsupported");
	if (session < 0)
		fail("create session: %s", strerror(-session));

	/* the good VM's memory first */
	kk_vm_init(&good, "guest.log");
	good.kvm_fd = kvm;
	good.tsc_hz = kk_tsc_hz();
	kk_create_mem(&good, kk_mem_size_for(REGION), false);
	ret = luo_preserve_fd(session, good.mem_fd, TOKEN_MEM);
	if (ret)
		fail("preserve the good VM's memfd: %s", strerror(-ret));
	msg("ok: preserved the good VM's %" PRIu64 " MiB memfd as token %d",
	    good.mem_size >> 20, TOKEN_MEM);

	/* ----- refused VMs ----- */
	bare_vm(&svm, kvm);
	if (ioctl(svm.vm_fd, KVM_CREATE_IRQCHIP, 0))
		fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (!add_vcpu(&svm, 0, true, false))
		fail("KVM refused CPUID with SVM for the guest: cannot test the refusal");
	expect_refused(session, svm.vm_fd, TOKEN_VM, EOPNOTSUPP,
		       "a VM whose vCPU offers SVM", nested_msg);

	bare_vm(&vmx, kvm);
	if (ioctl(vmx.vm_fd, KVM_CREATE_IRQCHIP, 0))
		fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (add_vcpu(&vmx, 0, false, true))
		expect_refused(session, vmx.vm_fd, TOKEN_VM, EOPNOTSUPP,
			       "a VM whose vCPU offers VMX", nested_msg);

	bare_vm(&split, kvm);
	if (ioctl(split.vm_fd, KVM_ENABLE_CAP, &cap))
		fail("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP): %s", strerror(errno));
	add_vcpu(&split, 0, false, false);
	expect_refused(session, split.vm_fd, TOKEN_VM, EOPNOTSUPP,
		       "a VM with a split irqchip", "a split irqchip is not carried");

	bare_vm(&dirty, kvm);
	if (ioctl(dirty.vm_fd, KVM_CREATE_IRQCHIP, 0))
		fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	kk_create_mem(&dirty, 2 << 20, false);
	r = (struct kvm_userspace_memory_region) {
		.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.memory_size = dirty.mem_size,
		.userspace_addr = (uintptr_t)dirty.mem,
	};
	if (ioctl(dirty.vm_fd, KVM_SET_USER_MEMORY_REGION, &r))
		fail("KVM_SET_USER_MEMORY_REGION with dirty logging: %s",
		     strerror(errno));
	add_vcpu(&dirty, 0, false, false);
	expect_refused(session, dirty.vm_fd, TOKEN_VM, EOPNOTSUPP,
		       "a VM with a dirty-logging memslot",
		       "memslot 0: dirty logging or guest_memfd: not carried");

	/* ----- the session is still usable ----- */
	expect_refused(session, good.mem_fd, 5, EBUSY,
		       "the memfd again after the refusals (still in the session)",
		       NULL);

	kk_create_vm_sized(&good, REGION);
	for (i = 0; i < KK_MAX_VCPUS; i++)
		kk_add_vcpu(&good, i, true);
	expect_refused(session, good.vcpu[0].fd, 6, ENOENT, "a vCPU fd", NULL);
	expect_refused(session, kvm, 7, ENOENT, "a /dev/kvm fd", NULL);

	ret = luo_preserve_fd(session, good.vm_fd, TOKEN_VM);
	if (ret)
		fail("preserve the good VM (token %d) after the refusals: %s",
		     TOKEN_VM, strerror(-ret));
	msg("ok: preserved the good VM as token %d, the token the refused VMs asked for",
	    TOKEN_VM);

	/* ----- the same VM twice ----- */
	expect_refused(session, good.vm_fd, 3, EBUSY,
		       "the same VM fd under another token", NULL);
	fd = dup(good.vm_fd);
	if (fd < 0)
		fail("dup: %s", strerror(errno));
	expect_refused(session, fd, 4, EBUSY, "a dup() of the VM fd", NULL);
	expect_refused(session, svm.vm_fd, TOKEN_VM, EEXIST,
		       "another VM under the token taken", NULL);
	s2 = luo_create_session(dev, "kvm-unsupported-2");
	if (s2 < 0)
		fail("create a second session: %s", strerror(-s2));
	expect_refused(s2, fd, TOKEN_VM, EBUSY,
		       "the VM in a second session", NULL);
	close(fd);
	close(s2);

	/* ----- nested offered after the preserve: finalize fails ----- */
	bare_vm(&late, kvm);
	if (ioctl(late.vm_fd, KVM_CREATE_IRQCHIP, 0))
		fail("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	add_vcpu(&late, 0, false, false);
	s2 = luo_create_session(dev, "kvm-late");
	if (s2 < 0)
		fail("create session kvm-late: %s", strerror(-s2));
	ret = luo_preserve_fd(s2, late.vm_fd, TOKEN_VM);
	if (ret)
		fail("preserve a VM with one plain vCPU: %s", strerror(-ret));
	add_vcpu(&late, 1, true, false);
	ret = kk_kho_finalize(true);
	if (!ret) {
		kk_kho_finalize(false);
		kk_dmesg_show("kvm-kho");
		fail("finalized with a preserved VM whose vCPU 1 offers SVM: its nested state would be lost");
	}
	if (kk_kho_finalized() != 0)
		fail("finalize failed (%s) but %s reads 1", strerror(-ret),
		     KK_KHO_FINALIZE);
	if (!kk_dmesg_count("cannot capture vCPU 1")) {
		kk_dmesg_show("kvm-kho");
		fail("finalize failed (%s) but the kernel log does not say it could not capture vCPU 1",
		     strerror(-ret));
	}
	msg("ok: finalize with a VM given a vCPU that offers SVM after its preserve: %s; nothing frozen",
	    strerror(-ret));
	if (ioctl(good.vcpu[0].fd, KVM_GET_REGS, &regs))
		fail("the good VM's vCPU 0 KVM_GET_REGS after the failed finalize: %s",
		     strerror(errno));
	if (ioctl(late.vcpu[0].fd, KVM_GET_REGS, &regs))
		fail("the late VM's vCPU 0 KVM_GET_REGS after the failed finalize: %s",
		     strerror(errno));
	msg("ok: both VMs take ioctls after the failed finalize");
	close(s2);

	/* ----- the handover now goes through, with the good VM only ----- */
	nq = kk_dmesg_count("kvm-kho: VM quiesced: ");
	na = kk_dmesg_count("kvm-kho: VM resumed: the handover was aborted");
	ret = kk_kho_finalize(true);
	if (ret) {
		kk_dmesg_show("kvm-kho");
		fail("finalize once the late VM's session is closed: %s",
		     strerror(-ret));
	}
	pages = kk_kho_last_preserved_pages();
	if (kk_dmesg_count("kvm-kho: VM quiesced: 2 vCPUs captured") < 1 ||
	    kk_dmesg_count("kvm-kho: VM quiesced: ") != nq + 1) {
		kk_dmesg_show("kvm-kho");
		fail("finalized, expected exactly one more \"VM quiesced: 2 vCPUs captured\" (the good VM)");
	}
	if (pages < (long)(good.mem_size >> 12) + 3)
		fail("finalized with %ld pages preserved, expected the memfd's %" PRIu64
		     " and the VM's", pages, good.mem_size >> 12);
	ret = kk_kho_finalize(false);
	if (ret)
		fail("unfreeze: %s", strerror(-ret));
	if (kk_dmesg_count("kvm-kho: VM resumed: the handover was aborted") != na + 1)
		fail("unfrozen without \"VM resumed: the handover was aborted\"");
	msg("ok: finalized with the good VM only (%ld pages preserved), then aborted",
	    pages);

	/* its guest never ran yet: it must start as usual */
	*kk_ctl32(&good, KK_CTL_TAG) = 0x756e7370;
	kk_start(&good);
	kk_wait(&good, 120, "the good VM's guest", kk_reached, want);
	kk_stop(&good);
	kk_check_healthy(&good);
	sum = kk_host_verify_region(&good, "the good VM");
	if (sum != good.init_csum)
		fail("host-side checksum %#x, the guest's %#x", sum, good.init_csum);
	msg("ok: the good VM's guest runs after the abort: counters %u and %u, %u checksum passes",
	    good.vcpu[0].last_count, good.vcpu[1].last_count, good.vcpu[1].passes);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_unsupported", LUO_STAGES(stage1));
}
