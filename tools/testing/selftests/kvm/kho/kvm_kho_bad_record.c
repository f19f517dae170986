// SPDX-License-Identifier: GPL-2.0
/*
 * A carried VM whose records are not what this kernel carries is refused
 * before anything is claimed. Stage 1 preserves five small VMs, their
 * guest RAM memfds and one more memfd, "forged", whose pages hold records
 * written by this test: a VM of a type KVM Live Update does not carry, a
 * VM with 2^32 - 1 vCPUs, a memslot in address space 7, a VM whose vCPU
 * record is a page of zeroes, and a VM record of a later format version. After the finalize the KHO test module
 * makes each VM file hand over one of those pages as its record.
 *
 * Stage 2: each VM retrieve fails with EINVAL and the kernel log says
 * why; the forged memfd, whose pages the records were, comes back whole,
 * at the same PFNs (nothing was claimed or freed), and so do the VMs'
 * guest RAM memfds.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>

#include "kvm_kho_util.h"

#define SESSION		"kvm-bad-record"
#define LUO_DATA	KHO_DEBUGFS "/test/luo_data"
#define FINALIZE	KHO_DEBUGFS "/out/finalize"
#define TOKEN_FORGED	100
#define NR_VMS		5
#define MEM_SIZE	(2 << 20)
#define PAGE		4096
#define FORGED_PAGES	(NR_VMS + 1)	/* one per VM, and a zero page */

/* include/linux/kho/abi/kvm.h, as this test writes it */
#define VM_MAGIC	0x316d76686f6b6d76ULL
#define VM_VERSION	1

struct vm_ser {
	uint64_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t vm_type;
	uint32_t nr_slots;
	uint32_t nr_vcpus;
	uint32_t reserved;
	uint64_t host_tsc;
	uint64_t tsc_khz;
	uint64_t kvmclock_ns;
	struct kvm_irqchip pic[2];
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
};

struct slot_ser {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
};

static const char *const reason[NR_VMS] = {
	"carried VM of type 99: only default VMs are carried",
	"is corrupt",				/* nr_vcpus */
	"is corrupt",				/* address space 7 */
	"vCPU record 0 at",			/* a page of zeroes */
	"is of version 2; this kernel reads version 1 only",
};

static uint64_t tok_mem(int i)
{
	return 2 * i + 1;
}

static uint64_t tok_vm(int i)
{
	return 2 * i + 2;
}

/* The record of VM @i, in page @i of @forged; page NR_VMS is zeroes. */
static void forge(uint8_t *forged, int i, uint64_t zero_page_phys)
{
	struct vm_ser *s = (struct vm_ser *)(forged + i * PAGE);
	struct slot_ser *slot = (struct slot_ser *)(s + 1);

	memset(s, 0, PAGE);
	s->magic = VM_MAGIC;
	s->version = VM_VERSION;
	switch (i) {
	case 0:
		s->vm_type = 99;
		break;
	case 1:
		s->nr_vcpus = UINT32_MAX;
		break;
	case 2:
		s->nr_slots = 1;
		slot->id = 7 << 16;
		slot->size = MEM_SIZE;
		break;
	case 3:
		s->nr_vcpus = 1;
		*(uint64_t *)(s + 1) = zero_page_phys;
		break;
	case 4:
		s->version = VM_VERSION + 1;
		break;
	}
}

static int stage1(void)
{
	int dev, session, forged_fd, i;
	struct kk_vm vm[NR_VMS];
	uint64_t *pfns;
	uint8_t *forged;
	char cmd[128];

	if (access(LUO_DATA, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_DATA);
	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	for (i = 0; i < NR_VMS; i++) {
		kk_vm_init(&vm[i], "guest.log");
		vm[i].kvm_fd = kk_open_kvm();
		vm[i].tsc_hz = kk_tsc_hz();
		kk_create_mem(&vm[i], MEM_SIZE, false);
		kk_new_vm(&vm[i]);
		kk_add_vcpu(&vm[i], 0, true);
		kk_preserve_vm(&vm[i], "vm", session, tok_mem(i), tok_vm(i));
	}

	forged_fd = memfd_create("forged", 0);
	if (forged_fd < 0 || ftruncate(forged_fd, FORGED_PAGES * PAGE))
		fail("memfd: %s", strerror(errno));
	forged = luo_map(forged_fd, FORGED_PAGES * PAGE);
	memset(forged, 0, FORGED_PAGES * PAGE);
	expect_ok("preserve the forged memfd",
		  luo_preserve_fd(session, forged_fd, TOKEN_FORGED));
	/* after preserve, which may move pages out of scratch */
	pfns = luo_pfns(forged, FORGED_PAGES * PAGE);
	for (i = 0; i < NR_VMS; i++)
		forge(forged, i, pfns[NR_VMS] * PAGE);
	luo_save("forged.pfns", pfns, FORGED_PAGES * sizeof(*pfns));
	luo_save("forged.data", forged, FORGED_PAGES * PAGE);

	luo_write_file(FINALIZE, "1");
	for (i = 0; i < NR_VMS; i++) {
		snprintf(cmd, sizeof(cmd), "%s %" PRIu64 " %#" PRIx64, SESSION,
			 tok_vm(i), pfns[i] * PAGE);
		luo_write_file(LUO_DATA, cmd);
	}
	msg("ok: each VM now hands over a record this test wrote");
	free(pfns);
	munmap(forged, FORGED_PAGES * PAGE);
	close(forged_fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	uint64_t *want, *got;
	int dev, session, fd, i;
	uint8_t *data, *map;
	char what[32];

	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, SESSION));
	for (i = 0; i < NR_VMS; i++) {
		snprintf(what, sizeof(what), "retrieve VM %d", i);
		expect_err(what, luo_retrieve_fd(session, tok_vm(i)), EINVAL);
		luo_expect_log(reason[i]);
		snprintf(what, sizeof(what), "retrieve VM %d's RAM", i);
		fd = expect_ok(what, luo_retrieve_fd(session, tok_mem(i)));
		close(fd);
	}
	msg("ok: every VM refused with EINVAL, its guest RAM retrieved");

	fd = expect_ok("retrieve the forged memfd",
		       luo_retrieve_fd(session, TOKEN_FORGED));
	map = luo_map(fd, FORGED_PAGES * PAGE);
	data = luo_load("forged.data", FORGED_PAGES * PAGE);
	if (memcmp(map, data, FORGED_PAGES * PAGE))
		fail("the forged memfd changed across the kexec");
	want = luo_load("forged.pfns", FORGED_PAGES * sizeof(*want));
	got = luo_pfns(map, FORGED_PAGES * PAGE);
	for (i = 0; i < FORGED_PAGES; i++)
		if (want[i] != got[i])
			fail("forged page %d: pfn %#" PRIx64 ", was %#" PRIx64,
			     i, got[i], want[i]);
	msg("ok: the forged memfd is whole, at the same PFNs");
	munmap(map, FORGED_PAGES * PAGE);
	expect_ok("finish", luo_finish(session));
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "kvm_kho_bad_record",
			LUO_STAGES(stage1, stage2));
}
