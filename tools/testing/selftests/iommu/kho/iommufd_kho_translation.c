// SPDX-License-Identifier: GPL-2.0
/*
 * VT-d keeps translating across the kexec for a device attached to a
 * preserved iommufd: the device is never untranslated, in the next kernel
 * it reaches guest RAM through the carried mappings before any VMM has
 * retrieved anything, and an IOVA nothing maps still faults.
 *
 * Stage 1 maps a 64 MiB memfd at IOVA 16 MiB, attaches edu to a HWPT of
 * it, copies page A (1) to page B (2) through the IOMMU, preserves the
 * memfd and the iommufd and finalizes: the kernel says edu will keep
 * translating.
 * edu stays attached (the holder keeps the VMM's files open) into the
 * kexec.
 *
 * Stage 2, before retrieving anything: the kernel adopted the handed-over
 * tables. With no driver on edu, the test drives it through sysfs: edu
 * reads page A through its IOVA and writes it to page E's IOVA, then
 * writes to an IOVA nothing maps, which raises a DMAR fault. Then the
 * VMM retrieves: page E holds page A's data, no other page changed, and
 * once edu is attached to the retrieved HWPT the old page table copy is
 * freed and DMA goes on through the new domain.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(64ULL << 20)
#define IOVA_X		(16ULL << 20)
#define IOVA_UNMAPPED	(128ULL << 20)
#define PAGE		4096ULL
#define SESSION		"vmm"
/* Pages A and B: stage 1's copy (iommu_vmm_hand_over()); then stage 2's */
#define PAGE_A		(1 * PAGE)
#define PAGE_C		(7 * PAGE)
#define PAGE_D		((40ULL << 20) + 9 * PAGE)
#define PAGE_E		((33ULL << 20) + 3 * PAGE)

static struct iommu_vmm vmm;

static int stage1(void)
{
	int dev = luo_open();

	iommu_vmm_hand_over(&vmm, dev, SESSION, SIZE, IOVA_X);
	luo_expect_log("will keep translating across the kexec");
	/* edu stays bound and attached: the holder keeps every file open */
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	struct iommu_vmm_note *note;
	int dev, session, memfd;
	uint64_t off, nr = 0;
	struct edu e;
	char bdf[32];

	luo_expect_log("adopting the handed-over tables");

	/* nobody has retrieved anything: edu still translates */
	edu_find(bdf, sizeof(bdf));
	edu_open_sysfs(&e, bdf);
	edu_dma(&e, IOVA_X + PAGE_A, 0, EDU_DMA_MAX, false);
	edu_dma(&e, IOVA_X + PAGE_E, 0, EDU_DMA_MAX, true);
	msg("ok: edu copied through the carried IOVAs before any retrieve");
	edu_dma(&e, IOVA_UNMAPPED, 0, EDU_DMA_MAX, true);
	luo_expect_log_soon("fault addr 0x8000000");
	edu_close(&e);

	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	if (!edu_pattern_holds(vmm.ram + PAGE_E, note->seed))
		fail("the DMA to page E's IOVA did not reach page E");
	for (off = 0; off < SIZE; off += PAGE)
		nr += edu_pattern_holds(vmm.ram + off, note->seed);
	expect_u64("pages holding the pattern (A, B and E)", 3, nr);
	msg("ok: page E got page A's data, and no other page changed");

	iommu_vmm_attach(&vmm, bdf);
	luo_expect_log_soon("handed-over page table freed");
	iommu_vmm_copy(&vmm, PAGE_C, PAGE_D, note->seed + 1);
	expect_ok("finish", luo_finish(session));
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_translation",
			LUO_STAGES(stage1, stage2));
}
