// SPDX-License-Identifier: GPL-2.0
/*
 * A passthrough device across three kexec hops, never reset. Each hop
 * retrieves the memfd, the iommufd and edu's device file, which comes
 * back bound under its old device id and attached; edu copies a page of
 * its own through the carried mapping at once, the pages of the hops
 * before are checked, and the three files go into a new session for the
 * next hop. The liveness value stage 1 left in edu reads back at every
 * hop: no kernel along the way reset the device.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(32ULL << 20)
#define IOVA_X		(32ULL << 20)
#define PAGE		4096ULL
#define LAST_STAGE	4
#define STATE_PAGE	3

static struct iommu_vmm vmm;

/* Hop @hop copies page src(hop) to dst(hop), both its own */
static uint64_t src(int hop)
{
	return (uint64_t)(hop + 2) * 2 * PAGE;
}

static uint64_t dst(int hop)
{
	return (16ULL << 20) + (uint64_t)hop * 3 * PAGE;
}

static void session_name(char *buf, size_t len, int hop)
{
	snprintf(buf, len, "vfio-hop-%d", hop);
}

/* Preserve the memfd, the iommufd and edu in the session of @hop */
static int hand_on(int dev, int memfd, int hop)
{
	char name[32];
	int session;

	session_name(name, sizeof(name), hop);
	session = luo_open_session(dev, name, true);
	iommu_vmm_preserve(&vmm, session, memfd);
	iommu_vmm_preserve_device(&vmm, session);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage1(void)
{
	struct iommu_vmm_note *note;
	int dev, memfd;
	uint32_t *liveness;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	dev = luo_open();
	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd: %s", strerror(errno));
	iommu_vmm_setup(&vmm, bdf, memfd, luo_map(memfd, SIZE), SIZE, IOVA_X);
	note = iommu_vmm_note(&vmm);
	iommu_vmm_copy(&vmm, src(1), dst(1), note->seed + 1);
	note->pfn = iommu_pfn_of(vmm.ram + dst(1));
	liveness = (uint32_t *)(vmm.ram + STATE_PAGE * PAGE);
	*liveness = (uint32_t)note->seed;
	edu_write32(&vmm.edu, EDU_REG_LIVENESS, *liveness);
	return hand_on(dev, memfd, 1);
}

static int hop_stage(void)
{
	int stage = luo_test_stage(), hop, dev, session, memfd;
	struct iommu_vmm_note *note;
	uint32_t *liveness;
	char name[32];

	dev = luo_open();
	session_name(name, sizeof(name), stage - 1);
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, name));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	iommu_vmm_retrieve_device(&vmm, session);
	liveness = (uint32_t *)(vmm.ram + STATE_PAGE * PAGE);
	expect_u64("edu's liveness register (inverted)", ~*liveness,
		   edu_read32(&vmm.edu, EDU_REG_LIVENESS));
	iommu_vmm_copy(&vmm, src(stage), dst(stage), note->seed + stage);
	for (hop = 1; hop <= stage; hop++)
		if (!edu_pattern_holds(vmm.ram + dst(hop), note->seed + hop))
			fail("the page hop %d copied was not carried", hop);
	expect_u64("PFN of the first hop's page", note->pfn,
		   iommu_pfn_of(vmm.ram + dst(1)));
	msg("ok: hop %d: edu never reset, the pages of every hop in place",
	    stage - 1);

	expect_ok("finish", luo_finish(session));
	close(session);
	if (stage < LAST_STAGE)
		return hand_on(dev, memfd, stage);

	iommu_vmm_release(&vmm, memfd, SIZE);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "vfio_kho_chained",
			LUO_STAGES(stage1, hop_stage, hop_stage, hop_stage));
}
