// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: a carried VM's records, as KVM checks and claims them in the
 * next kernel (kvm_kho_claim(): the VM record and every vCPU record it
 * names checked in place by kvm_kho_check_in(), then claimed), and gives
 * them back (kvm_kho_put_in()).
 *
 * Input: the preserved blocks (struct fuzz_block), then RAM; the VM record
 * is the first page of RAM. Records accepted must be claimed whole (a
 * failed claim after the checks is a WARN, and so a crash here) and freed.
 */
#include "virt/kvm/kho/kvm_kho.c"
#include "env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

static void kvm_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		kvm_seeds();
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct kvm_kho_vm_ser *ser;
	struct folio *ser_folio;
	struct folio **vcpus;
	u32 nr;

	fuzz_consumer_reset(data, size);
	vcpus = kvm_kho_claim(FUZZ_RAM_PHYS, &ser_folio);
	if (IS_ERR(vcpus)) {
		pr_info("kho-fuzz: refused\n");
		if (fuzz_pages_freed)
			fuzz_fail("refused VM freed %lu pages", fuzz_pages_freed);
		return 0;
	}
	ser = folio_address(ser_folio);
	nr = ser->nr_vcpus;
	pr_info("kho-fuzz: accepted, %u vCPUs\n", nr);
	kvm_kho_put_in(ser_folio, vcpus, nr);
	return 0;
}

/* ----- seeds, written with the format's own structures ----- */

static void kvm_seed(const char *name, unsigned int nr_vcpus, unsigned int nr_slots,
		     unsigned int nr_msrs)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;
	size_t vsize = kvm_kho_vcpu_ser_size(nr_msrs, 0, sizeof(struct kvm_xsave));
	unsigned int order = get_order(vsize), i, page = 1 << order;
	u8 *buf = calloc(1, size), *ram;
	struct kvm_kho_slot_ser *slots;
	struct kvm_kho_vcpu_ser *s;
	struct kvm_kho_vm_ser *ser;
	struct fuzz_block *b;
	u64 *vcpus;

	b = (void *)buf;
	ram = buf + sizeof(*b) * FUZZ_NR_BLOCKS;
	ser = (void *)ram;
	ser->magic = KVM_KHO_VM_MAGIC;
	ser->version = KVM_KHO_VERSION;
	ser->nr_slots = nr_slots;
	ser->nr_vcpus = nr_vcpus;
	ser->vm_type = KVM_X86_DEFAULT_VM;
	slots = kvm_kho_vm_slots(ser);
	for (i = 0; i < nr_slots; i++) {
		slots[i].id = i;
		slots[i].gpa = (u64)i << 30;
		slots[i].size = SZ_256M;
	}
	b[0] = (struct fuzz_block){ .page = 0 };
	vcpus = kvm_kho_vm_vcpus(ser);
	for (i = 0; i < nr_vcpus; i++, page += 1 << order) {
		vcpus[i] = FUZZ_RAM_PHYS + page * PAGE_SIZE;
		s = (void *)(ram + page * PAGE_SIZE);
		s->magic = KVM_KHO_VCPU_MAGIC;
		s->vcpu_id = i;
		s->nr_msrs = nr_msrs;
		s->xsave_size = sizeof(struct kvm_xsave);
		b[1 + i] = (struct fuzz_block){ .page = page, .order = order };
	}
	if (page > FUZZ_RAM_PAGES || 1 + nr_vcpus > FUZZ_NR_BLOCKS)
		fuzz_fail("seed %s does not fit", name);
	while (size > 1 && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
}

static void kvm_seeds(void)
{
	kvm_seed("vm-no-vcpus", 0, 1, 0);
	kvm_seed("vm-1-vcpu", 1, 2, 4);
	kvm_seed("vm-3-vcpus", 3, 2, 16);
}
