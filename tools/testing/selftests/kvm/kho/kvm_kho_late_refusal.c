// SPDX-License-Identifier: GPL-2.0
/*
 * What a VM may not carry is checked again when the handover is finalized,
 * not only when the VM is preserved. No kexec.
 *
 * The two-vCPU guest of kvm_kho_util.h runs on 10 MiB of memfd; the memfd
 * and the VM are preserved in a session. Then:
 *
 *  - memslot 0 is given dirty logging (KVM_MEM_LOG_DIRTY_PAGES), which
 *    Live Update refuses at preserve: the finalize fails (EBUSY or
 *    EOPNOTSUPP), the kernel log names the VM (kvm-PID) and the reason,
 *    nothing is frozen and the guest keeps running;
 *  - dirty logging cleared, the finalize goes through and quiesces the VM;
 *    undone, the guest runs on.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define REGION		(8U << 20)
#define TOKEN_MEM	1
#define TOKEN_VM	2

static const char *const quiesced = "kvm-kho: VM quiesced: 2 vCPUs captured";
static const char *const dirty_msg =
	"memslot 0: dirty logging or guest_memfd: not carried";

static void set_slot0(struct kk_vm *vm, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0, .flags = flags, .guest_phys_addr = 0,
		.memory_size = vm->mem_size, .userspace_addr = (uintptr_t)vm->mem,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r))
		fail("KVM_SET_USER_MEMORY_REGION slot 0 flags %#x: %s", flags,
		     strerror(errno));
}

/* A single stage: no kexec. */
static int stage1(void)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 2, 2, 1 };
	int dev, session, ret, nq, nd;
	char name[32], line[160];
	struct kk_vm vm;
	uint32_t sum;

	dev = luo_open();
	kk_vm_init(&vm, "guest.log");
	kk_create_guest(&vm, REGION);
	kk_start(&vm);
	kk_wait(&vm, 120, "the guest to run", kk_reached, want);

	session = luo_open_session(dev, "kvm-late-refusal", true);
	kk_preserve_vm(&vm, "kvm-late-refusal", session, TOKEN_MEM, TOKEN_VM);
	msg("ok: preserved the memfd and the VM");

	/* ----- dirty logging after the preserve ----- */
	snprintf(name, sizeof(name), "VM kvm-%d: ", (int)getpid());
	snprintf(line, sizeof(line), "%s%s", name, dirty_msg);
	nd = kk_dmesg_count(line);
	nq = kk_dmesg_count(quiesced);
	set_slot0(&vm, KVM_MEM_LOG_DIRTY_PAGES);
	msg("ok: memslot 0 now logs dirty pages");
	ret = kk_kho_finalize(true);
	if (!ret) {
		kk_kho_finalize(false);
		kk_dmesg_show("kvm-kho");
		fail("finalized with a preserved VM whose memslot logs dirty pages: the dirty log would be dropped");
	}
	if (ret != -EBUSY && ret != -EOPNOTSUPP)
		fail("finalize with a dirty-logging memslot: %s, expected EBUSY or EOPNOTSUPP",
		     strerror(-ret));
	if (kk_kho_finalized() != 0)
		fail("finalize failed but %s reads 1", KK_KHO_FINALIZE);
	if (kk_dmesg_count(line) != nd + 1) {
		kk_dmesg_show("kvm-kho");
		fail("finalize refused (%s) but the kernel log has no new \"%s\"",
		     strerror(-ret), line);
	}
	if (kk_dmesg_count(quiesced) != nq)
		fail("the refused finalize still said \"%s\"", quiesced);
	msg("ok: finalize refused: %s; kernel log: \"%s\"", strerror(-ret), line);
	kk_wait_more(&vm, 60, "the guest after the refused finalize", 2, 1);
	msg("ok: the guest keeps running: counters %u and %u",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count);

	/* ----- cleared: the finalize goes through ----- */
	set_slot0(&vm, 0);
	ret = kk_kho_finalize(true);
	if (ret) {
		kk_dmesg_show("kvm-kho");
		fail("finalize once dirty logging is off again: %s",
		     strerror(-ret));
	}
	if (kk_dmesg_count(quiesced) != nq + 1)
		fail("finalized without \"%s\"", quiesced);
	ret = kk_kho_finalize(false);
	if (ret)
		fail("unfreeze: %s", strerror(-ret));
	msg("ok: dirty logging off: finalized (\"%s\"), then undone", quiesced);
	kk_wait_more(&vm, 60, "the guest after the abort", 2, 1);

	close(session);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	sum = kk_host_verify_region(&vm, "at the end");
	if (sum != vm.init_csum)
		fail("host-side checksum %#x, the guest's %#x", sum, vm.init_csum);
	kk_check_counters(&vm);
	msg("ok: guest memory intact (checksum %#x), counters %u and %u", sum,
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_late_refusal", LUO_STAGES(stage1));
}
