// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM that never comes back: its device, still translating through the
 * handed-over tables, is blocked when the session is finished, before the
 * guest RAM it could reach is released.
 *
 * Stage 1 sets up a VMM as iommufd_kho_translation does, with edu
 * attached into the kexec. Stage 2 retrieves the session but not its
 * files: edu, driven through sysfs, still copies a page through the
 * carried IOVAs. Finishing the session releases edu, which the kernel log
 * says, and a DMA to the same IOVA then faults.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(16ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL
#define SESSION		"gone"

static int stage1(void)
{
	struct iommu_vmm vmm;
	int dev = luo_open();

	iommu_vmm_hand_over(&vmm, dev, SESSION, SIZE, IOVA_X);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session;
	struct edu e;
	char bdf[32];

	luo_expect_log("adopting the handed-over tables");
	edu_find(bdf, sizeof(bdf));
	edu_open_sysfs(&e, bdf);
	edu_dma(&e, IOVA_X + PAGE, 0, EDU_DMA_MAX, false);
	edu_dma(&e, IOVA_X + 3 * PAGE, 0, EDU_DMA_MAX, true);
	if (luo_log_has("fault addr"))
		fail("edu faulted before the session was finished");
	msg("ok: edu copies through the carried IOVAs, nothing retrieved");

	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	expect_ok("finish it, its files never retrieved", luo_finish(session));
	luo_expect_log("released: its DMA is blocked");
	edu_dma(&e, IOVA_X + 3 * PAGE, 0, EDU_DMA_MAX, true);
	luo_expect_log_soon("fault addr 0x1003000");
	msg("ok: once released, edu's DMA to the same IOVA faults");
	edu_close(&e);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_unretrieved",
			LUO_STAGES(stage1, stage2));
}
