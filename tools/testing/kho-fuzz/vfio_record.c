// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target: a preserved vfio-pci device file's record, as vfio-pci reads
 * it in the next kernel: at boot, to learn which function the record holds
 * (vfio_pci_luo_note_held(): a record that does not check out holds every
 * carried device), and at retrieve or finish, checked in place and then
 * claimed (vfio_pci_luo_claim()).
 *
 * Input: the preserved blocks (struct fuzz_block), then RAM; the record is
 * the first page of RAM. The two readings must agree: the scan finds it
 * sound exactly when the claim takes it, and a claim takes exactly the one
 * page it names, nothing when it refuses.
 */
#include "drivers/vfio/pci/vfio_pci_luo.c"
#include "env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

static void vfio_seeds(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_env_init();
	if (fuzz_seed_dir())
		vfio_seeds();
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct vfio_pci_luo_scan scan = {
		.held = LIST_HEAD_INIT(scan.held),
	};
	struct vfio_pci_luo_held *h, *tmp;
	struct folio *folio;
	unsigned int held = 0;

	fuzz_consumer_reset(data, size);
	if (vfio_pci_luo_note_held(FUZZ_RAM_PHYS, &scan))
		fuzz_fail("the scan failed for want of memory");
	list_for_each_entry_safe(h, tmp, &scan.held, node) {
		held++;
		list_del(&h->node);
		kfree(h);
	}
	if (held + scan.hold_all != 1)
		fuzz_fail("the scan held %u functions, hold_all %d", held,
			  scan.hold_all);
	if (fuzz_pages_freed)
		fuzz_fail("the scan freed %lu pages", fuzz_pages_freed);

	folio = vfio_pci_luo_claim(FUZZ_RAM_PHYS);
	if (IS_ERR(folio)) {
		pr_info("kho-fuzz: refused\n");
		if (!scan.hold_all)
			fuzz_fail("refused at the claim, sound at the scan");
		if (fuzz_pages_freed)
			fuzz_fail("refused record freed %lu pages",
				  fuzz_pages_freed);
		return 0;
	}
	pr_info("kho-fuzz: accepted\n");
	if (scan.hold_all)
		fuzz_fail("claimed a record the scan found corrupt");
	folio_put(folio);
	if (fuzz_pages_freed != 1)
		fuzz_fail("record of 1 page freed %lu", fuzz_pages_freed);
	return 0;
}

/* ----- seeds, written with the format's own structure ----- */

static void vfio_seed(const char *name, u32 irq_index, u32 irq_count)
{
	size_t size = sizeof(struct fuzz_block) * FUZZ_NR_BLOCKS + FUZZ_RAM_SIZE;
	u8 *buf = calloc(1, size);
	struct vfio_pci_luo_ser *ser;
	struct fuzz_block *b;

	b = (void *)buf;
	ser = (void *)(buf + sizeof(*b) * FUZZ_NR_BLOCKS);
	b[0] = (struct fuzz_block){ .page = 0 };
	ser->magic = VFIO_PCI_LUO_MAGIC;
	ser->version = VFIO_PCI_LUO_VERSION;
	ser->size = sizeof(*ser);
	ser->iommufd_token = 2;
	ser->devid = 2;
	ser->pt_id = 3;
	ser->pci_rid = PCI_DEVID(0, PCI_DEVFN(2, 0));
	ser->vendor = 0x1234;
	ser->device = 0x11e8;
	ser->irq_index = irq_index;
	ser->irq_count = irq_count;
	while (size > 1 && !buf[size - 1])
		size--;
	fuzz_write_seed(name, buf, size);
	free(buf);
}

static void vfio_seeds(void)
{
	vfio_seed("msi", VFIO_PCI_MSI_IRQ_INDEX, 1);
	vfio_seed("msix", VFIO_PCI_MSIX_IRQ_INDEX, 64);
	vfio_seed("no-irq", VFIO_PCI_LUO_NO_IRQ, 0);
}
