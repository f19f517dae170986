// SPDX-License-Identifier: GPL-2.0
/*
 * Damaged VT-d handover tables must not be adopted: the next kernel keeps
 * translation on but keeps the devices it carried blocked, never letting
 * their DMA through untranslated, says why, and the rest of the handover
 * is intact.
 *
 * Stage 1 sets up a VMM as iommufd_kho_translation does (edu attached to
 * a HWPT mapping a memfd at IOVA 16 MiB), preserves the memfd and the
 * iommufd, finalizes, and through the KHO test module points a table
 * below the handed-over domain's top page table at a page that was never
 * preserved.
 *
 * Stage 2: the kernel rejected the handover for the unit, naming the
 * reason. edu, driven through sysfs, copies page A to page E through
 * their IOVAs: the write faults (a DMAR fault at page E's IOVA, so it was
 * neither translated nor let through as a physical address) and no page
 * of the memfd changed. The iommufd and the memfd are then retrieved as
 * usual, and edu attached to the retrieved HWPT DMAs again.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

/* iommufd_kho_bad_vtd_context.c damages a context entry instead */
#ifndef VTD_DAMAGE
#define VTD_TEST	"iommufd_kho_bad_vtd"
#define VTD_DAMAGE	"vtd-table"
#define VTD_REASON	"a table page that was not preserved"
#endif

#define SIZE		(64ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL
#define SESSION		"vmm"
#define CORRUPT		KHO_DEBUGFS "/test/corrupt"
/* Pages A and B: stage 1's copy (iommu_vmm_hand_over()); then stage 2's */
#define PAGE_A		(1 * PAGE)
#define PAGE_C		(7 * PAGE)
#define PAGE_D		((40ULL << 20) + 9 * PAGE)
#define PAGE_E		((33ULL << 20) + 3 * PAGE)

static struct iommu_vmm vmm;

static int stage1(void)
{
	int dev;

	if (access(CORRUPT, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", CORRUPT);
	dev = luo_open();
	iommu_vmm_hand_over(&vmm, dev, SESSION, SIZE, IOVA_X);
	luo_write_file(CORRUPT, VTD_DAMAGE);
	msg("the VT-d handover tables are damaged (%s)", VTD_DAMAGE);
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

	luo_expect_log("handover rejected: " VTD_REASON);

	edu_find(bdf, sizeof(bdf));
	edu_open_sysfs(&e, bdf);
	edu_dma(&e, IOVA_X + PAGE_A, 0, EDU_DMA_MAX, false);
	edu_dma(&e, IOVA_X + PAGE_E, 0, EDU_DMA_MAX, true);
	luo_expect_log_soon("fault addr 0x3103000");
	msg("ok: edu is blocked, not translated by the damaged tables");
	edu_close(&e);

	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	for (off = 0; off < SIZE; off += PAGE)
		nr += edu_pattern_holds(vmm.ram + off, note->seed);
	expect_u64("pages holding the pattern (A and B)", 2, nr);
	msg("ok: guest RAM is as stage 1 left it");

	iommu_vmm_attach(&vmm, bdf);
	iommu_vmm_copy(&vmm, PAGE_C, PAGE_D, note->seed + 1);
	expect_ok("finish", luo_finish(session));
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, VTD_TEST,
			LUO_STAGES(stage1, stage2));
}
