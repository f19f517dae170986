// SPDX-License-Identifier: GPL-2.0
/*
 * A preserved VM runs on after the handover is finalized, until the kexec
 * itself, and the next kernel gets the vCPUs as they were at the kexec.
 *
 * Stage 1: a VMM process starts the two-vCPU guest of kvm_kho_util.h on
 * 66 MiB of shmem memfd, preserves the memfd and the VM fd in session
 * "kvm", and finalizes the handover itself. Then:
 *
 *  - the kernel said the VM is ready for the kexec with its 2 vCPUs, and
 *    captured nothing yet (no "VM quiesced" line);
 *  - the guest goes on: both vCPUs report again and a checksum pass
 *    completes after the finalize;
 *  - what would change the VM's layout is refused with EBUSY (a memslot,
 *    a new vCPU), while the VM ioctls of a running VM still work;
 *  - the VMM records the guest's counters, over and over, until the
 *    kexec; the test process exits 10 and the harness kexecs, which
 *    quiesces the VM.
 *
 * Stage 2: retrieve the session, rebuild the VM and run it. The counters
 * must go on from past the last ones recorded, all of them written after
 * the finalize: a VM captured at finalize would come back with counters
 * from before those records and fail here.
 */
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define SESSION		"kvm"
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define RECORD		"record"
#define REGION		(64U << 20)

static const char *const ready = "ready for the kexec: 2 vCPUs run on until then";
static const char *const quiesced = "kvm-kho: VM quiesced: ";

/* A VM ioctl on an armed VM: EBUSY for a layout change, else it runs. */
static void check_armed(struct kk_vm *vm)
{
	struct kvm_userspace_memory_region r = {
		.slot = 1,
		.guest_phys_addr = 1ULL << 32,
		.memory_size = 4096,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	int ret;

	ret = ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
	if (ret != -1 || errno != EBUSY)
		fail("a new memslot on the armed VM: %s, expected EBUSY",
		     ret ? strerror(errno) : "added");
	ret = ioctl(vm->vm_fd, KVM_CREATE_VCPU, KK_MAX_VCPUS);
	if (ret >= 0 || errno != EBUSY)
		fail("a new vCPU on the armed VM: %s, expected EBUSY",
		     ret >= 0 ? "created" : strerror(errno));
	ret = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP);
	if (ret <= 0)
		fail("KVM_CHECK_EXTENSION on the armed VM: %s",
		     ret ? strerror(errno) : "0");
	msg("ok: armed VM: a new memslot and a new vCPU refused with EBUSY, %s",
	    "KVM_CHECK_EXTENSION answered");
}

/* ----- stage 1 ----- */

static void vmm_stage1(void *arg, int status_fd)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 3, 3, 1 };
	struct kk_record rec = { 0 };
	int dev, session, rfd, nq, err;
	struct kk_vm vm;

	(void)arg;
	setsid();
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 1: VMM pid %d", getpid());
	kk_create_guest(&vm, REGION);
	kk_start(&vm);
	kk_wait(&vm, 600, "the guest to run", kk_reached, want);
	msg("ok: guest running: counters %u and %u", vm.vcpu[0].last_count,
	    vm.vcpu[1].last_count);

	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	kk_preserve_vm(&vm, SESSION, session, TOKEN_MEM, TOKEN_VM);
	close(dev);

	nq = kk_dmesg_count(quiesced);
	err = kk_kho_finalize(true);
	if (err)
		fail("finalize: %s", strerror(-err));
	if (kk_dmesg_count(ready) < 1) {
		kk_dmesg_show("kvm-kho");
		fail("finalized without \"%s\"", ready);
	}
	if (kk_dmesg_count(quiesced) != nq) {
		kk_dmesg_show("kvm-kho");
		fail("the finalize quiesced the VM: it must run until the kexec");
	}
	msg("ok: finalized: \"%s\", nothing captured yet", ready);

	kk_wait_more(&vm, 300, "reports after the finalize", 2, 1);
	kk_check_healthy(&vm);
	msg("ok: the guest runs on after the finalize: counters %u and %u, %u passes",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count, vm.vcpu[1].passes);
	check_armed(&vm);

	rfd = kk_record_create(RECORD);
	kk_record_fill(&vm, &rec);
	kk_record_write(rfd, &rec);
	kk_record_write(rfd, &rec);
	msg("ok: recorded after the finalize: vCPU 0 counter %u, vCPU 1 counter %u",
	    rec.count[0], rec.count[1]);
	msg("# VMM %d keeps the guest running through the kexec", getpid());
	kk_child_detach(status_fd, "vmm.log");
	kk_record_until_kexec(&vm, rfd, &rec);
}

static int stage1(void)
{
	struct kk_child c;

	kk_child_start(&c, "the VMM", vmm_stage1, NULL);
	return kk_child_wait(&c);
}

/* ----- stage 2 ----- */

static int stage2(void)
{
	struct kk_record rec;
	struct kk_vm vm;
	int dev, session, ret;

	kk_record_load(RECORD, &rec);
	msg("# stage 1 recorded last (seq %" PRIu64 "): vCPU 0 counter %u, vCPU 1 counter %u",
	    rec.seq, rec.count[0], rec.count[1]);
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 2: VMM pid %d", getpid());

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate in the new kernel: %s", strerror(-dev));
	session = luo_open_session(dev, SESSION, false);
	kk_restore_vm(&vm, "the update", session, TOKEN_MEM, TOKEN_VM, &rec);
	kk_start(&vm);
	/* counters past the last record: the state is the kexec's, not finalize's */
	kk_check_resumed(&vm, "the update", &rec, 600);

	ret = luo_finish(session);
	if (ret)
		fail("finish session \"%s\": %s", SESSION, strerror(-ret));
	kk_stop(&vm);
	kk_check_healthy(&vm);
	close(session);
	close(dev);
	kk_tsc_verdict();
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_runs_to_kexec",
			LUO_STAGES(stage1, stage2));
}
