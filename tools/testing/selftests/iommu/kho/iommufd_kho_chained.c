// SPDX-License-Identifier: GPL-2.0
/*
 * The same iommufd across three kexec hops. Each hop retrieves it with its
 * memfd, attaches edu to the carried HWPT, has edu copy a page of its own
 * through the carried mapping, checks the pages of the hops before, and
 * preserves both again in a new session. The IOAS and HWPT keep their ids
 * and the first hop's page keeps its frame all the way. edu stays
 * attached into every kexec, so each kernel adopts the VT-d tables the one
 * before handed over, and frees them once edu is attached again.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(32ULL << 20)
#define IOVA_X		(32ULL << 20)
#define PAGE		4096ULL
#define LAST_STAGE	4

static struct iommu_vmm vmm;

/* Hop @hop copies page src(hop) to dst(hop), both its own */
static uint64_t src(int hop)
{
	return (uint64_t)hop * 2 * PAGE;
}

static uint64_t dst(int hop)
{
	return (16ULL << 20) + (uint64_t)hop * 3 * PAGE;
}

static void session_name(char *buf, size_t len, int hop)
{
	snprintf(buf, len, "iommufd-hop-%d", hop);
}

/*
 * Preserve the memfd and the iommufd in the session of @hop; edu stays
 * attached, the holder keeping every file open into the kexec
 */
static int hand_on(int dev, int memfd, int hop)
{
	char name[32];
	int session;

	session_name(name, sizeof(name), hop);
	session = luo_open_session(dev, name, true);
	iommu_vmm_preserve(&vmm, session, memfd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage1(void)
{
	struct iommu_vmm_note *note;
	int dev, memfd;
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
	return hand_on(dev, memfd, 1);
}

static int hop_stage(void)
{
	int stage = luo_test_stage(), hop, dev, session, memfd;
	struct iommu_vmm_note *note;
	char bdf[32], name[32];

	luo_expect_log("adopting the handed-over tables");
	edu_find(bdf, sizeof(bdf));
	dev = luo_open();
	session_name(name, sizeof(name), stage - 1);
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, name));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	for (hop = 1; hop < stage; hop++)
		if (!edu_pattern_holds(vmm.ram + dst(hop), note->seed + hop))
			fail("the page hop %d copied was not carried", hop);
	expect_u64("PFN of the first hop's page", note->pfn,
		   iommu_pfn_of(vmm.ram + dst(1)));
	msg("ok: the pages of hops 1 to %d, the first at its frame",
	    stage - 1);

	iommu_vmm_attach(&vmm, bdf);
	luo_expect_log_soon("handed-over page table freed");
	iommu_vmm_copy(&vmm, src(stage), dst(stage), note->seed + stage);
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
	return luo_test(argc, argv, "iommufd_kho_chained",
			LUO_STAGES(stage1, hop_stage, hop_stage, hop_stage));
}
