// SPDX-License-Identifier: GPL-2.0
/*
 * A running KVM guest whose RAM is one 1 GiB hugetlb page, across a kernel
 * live update, as hosts that back guests with 1 GiB pages run them.
 *
 * Stage 1: the VMM (a child, as in kvm_kho_resume) starts the two-vCPU
 * guest of kvm_kho_util.h on a 1 GiB hugetlb memfd, taking the page the
 * command line reserved at boot, preserves the memfd and the VM, and
 * keeps the guest running and recording until the kexec.
 *
 * Stage 2: this kernel, asked for the same pool, allocates nothing at
 * boot: the preserved page is that pool (see luo_hugetlb_1g). Retrieve the
 * memfd (its page comes back at the same PFN, and joins the pool in use)
 * and the VM; the guest must go on where it was, as kvm_kho_resume checks
 * it. Finish the session; pass.
 */
#include "kvm_kho_util.h"

#define SESSION		"kvm-1g"
#define TOKEN_MEM	1
#define TOKEN_VM	2
#define RECORD		"record"

/* a counter of the 1 GiB pool */
static long pool(const char *file)
{
	return luo_hstate_read(1UL << 20, file);
}

/* PFN of the first page of guest RAM, as the VMM maps it */
static uint64_t guest_pfn(struct kk_vm *vm)
{
	uint64_t pfn;

	luo_read_pfns(vm->mem, 4096, &pfn);
	return pfn;
}

/* ----- stage 1 ----- */

static void vmm_stage1(void *arg, int status_fd)
{
	uint64_t want[KK_MAX_VCPUS + 1] = { 3, 3, 1 };
	struct kk_record rec = { 0 };
	int dev, session, rfd;
	struct kk_vm vm;
	uint64_t pfn;

	(void)arg;
	setsid();
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 1: VMM pid %d", getpid());
	kk_create_guest_backed(&vm, KK_REGION_SIZE, KK_BACKING_HUGETLB_1G);
	expect_u64("guest RAM", 1ULL << 30, vm.mem_size);
	expect_u64("free 1 GiB pages once guest RAM has one", 0,
		   pool("free_hugepages"));
	pfn = guest_pfn(&vm);
	luo_save("pfn", &pfn, sizeof(pfn));
	msg("ok: guest RAM is the 1 GiB page at PFN %#" PRIx64, pfn);
	kk_start(&vm);
	kk_wait(&vm, 600, "the guest to run", kk_reached, want);

	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	kk_preserve_vm(&vm, SESSION, session, TOKEN_MEM, TOKEN_VM);
	msg("ok: preserved the 1 GiB guest RAM memfd and the VM");
	close(dev);
	kk_wait_more(&vm, 300, "reports after the preserve", 2, 0);

	rfd = kk_record_create(RECORD);
	kk_record_fill(&vm, &rec);
	kk_record_write(rfd, &rec);
	kk_record_write(rfd, &rec);
	kk_child_detach(status_fd, "vmm.log");
	kk_record_until_kexec(&vm, rfd, &rec);
}

static int stage1(void)
{
	struct kk_child c;

	expect_u64("1 GiB pages in the boot pool", 1, pool("nr_hugepages"));
	kk_child_start(&c, "the VMM", vmm_stage1, NULL);
	return kk_child_wait(&c);
}

/* ----- stage 2 ----- */

static int stage2(void)
{
	uint64_t *pfn = luo_load("pfn", sizeof(*pfn));
	struct kk_record rec;
	struct kk_vm vm;
	int dev, session, ret;

	expect_u64("1 GiB pages allocated at boot", 0, pool("nr_hugepages"));
	kk_record_load(RECORD, &rec);
	kk_vm_init(&vm, "guest.log");
	kk_log(&vm, "stage 2: VMM pid %d", getpid());

	dev = kk_luo_open();
	if (dev < 0)
		fail("open /dev/liveupdate in the new kernel: %s", strerror(-dev));
	session = luo_open_session(dev, SESSION, false);
	kk_restore_vm(&vm, "the update", session, TOKEN_MEM, TOKEN_VM, &rec);
	expect_u64("PFN of guest RAM (no copy)", *pfn, guest_pfn(&vm));
	expect_u64("1 GiB pool pages while the guest holds one", 1,
		   pool("nr_hugepages"));
	expect_u64("surplus 1 GiB pages while the guest holds one", 0,
		   pool("surplus_hugepages"));
	kk_start(&vm);
	kk_check_resumed(&vm, "the update", &rec, 600);

	ret = luo_finish(session);
	if (ret)
		fail("finish session \"%s\": %s", SESSION, strerror(-ret));
	kk_wait_more(&vm, 300, "reports after the finish", 2, 0);
	kk_stop(&vm);
	kk_check_healthy(&vm);
	msg("ok: guest on its 1 GiB page still running after the finish: counters %u and %u",
	    vm.vcpu[0].last_count, vm.vcpu[1].last_count);
	close(session);
	close(dev);
	free(pfn);
	kk_tsc_verdict();
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_hugetlb_1g",
			LUO_STAGES(stage1, stage2));
}
