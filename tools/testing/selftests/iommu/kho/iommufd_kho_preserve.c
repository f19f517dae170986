// SPDX-License-Identifier: GPL-2.0
/*
 * An iommufd carried across a kexec by Live Update: its IOAS, its paging
 * HWPT and its mapping of guest RAM come back with the same ids, over the
 * same pages, and a device DMAs through them with no new map call.
 *
 * Stage 1 maps a 64 MiB memfd at IOVA 16 MiB (IOMMU_IOAS_MAP_FILE) in an
 * IOAS, gives edu a HWPT of it, and has edu copy a page through the
 * mapping. Preserving an iommufd that maps a user VA, a memfd outside
 * the session or a memfd sealed against writes since it was mapped
 * writeable, or that holds more objects than are carried, is refused with
 * EOPNOTSUPP and a message. Then it preserves the memfd and the iommufd,
 * releases edu (the HWPT stays) and asks for the kexec.
 *
 * Stage 2 retrieves the iommufd, finds the IOAS under its old id, binds
 * edu and attaches it to the HWPT under its old id, and has edu copy a
 * page again through the old IOVAs. The memfd kept stage 1's data at the
 * same page frames, and unmapping the old range takes exactly 64 MiB.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(64ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL
#define SESSION		"vmm"
#define mib(n)		((uint64_t)(n) << 20)
/* Pages A and B: stage 1's copy; C and D: stage 2's */
#define PAGE_A		(1 * PAGE)
#define PAGE_B		(mib(6) + 5 * PAGE)
#define PAGE_C		(7 * PAGE)
#define PAGE_D		(mib(40) + 9 * PAGE)

static struct iommu_vmm vmm;

/* Preserving an iommufd that cannot be carried fails, saying why */
static void check_refusals(int session)
{
	int fd, outsider, i;
	uint32_t ioas;
	void *va;

	fd = iommufd_open();
	expect_ok("IOAS for a user VA", iommufd_ioas_alloc(fd, &ioas));
	va = mmap(NULL, mib(2), PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (va == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	expect_ok("IOMMU_IOAS_MAP of a user VA",
		  iommufd_map_user(fd, ioas, va, mib(2), IOVA_X));
	expect_err("preserve an iommufd mapping a user VA",
		   luo_preserve_fd(session, fd, 100), EOPNOTSUPP);
	luo_expect_log("maps a user VA, not a memfd");
	close(fd);
	munmap(va, mib(2));

	fd = iommufd_open();
	expect_ok("IOAS for an outsider", iommufd_ioas_alloc(fd, &ioas));
	outsider = memfd_create("outsider", MFD_CLOEXEC);
	if (outsider < 0 || ftruncate(outsider, mib(2)))
		fail("memfd: %s", strerror(errno));
	expect_ok("MAP_FILE of a memfd outside the session",
		  iommufd_map_file(fd, ioas, outsider, 0, mib(2), IOVA_X));
	expect_err("preserve an iommufd mapping a memfd outside the session",
		   luo_preserve_fd(session, fd, 101), EOPNOTSUPP);
	luo_expect_log("maps a memfd that is not in the session");
	close(fd);
	close(outsider);

	/* sealed against writes after a writeable mapping was made */
	fd = iommufd_open();
	expect_ok("IOAS for a sealed memfd", iommufd_ioas_alloc(fd, &ioas));
	outsider = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (outsider < 0 || ftruncate(outsider, mib(2)))
		fail("memfd: %s", strerror(errno));
	expect_ok("MAP_FILE of it, writeable",
		  iommufd_map_file(fd, ioas, outsider, 0, mib(2), IOVA_X));
	if (fcntl(outsider, F_ADD_SEALS, F_SEAL_FUTURE_WRITE))
		fail("F_SEAL_FUTURE_WRITE: %s", strerror(errno));
	expect_err("preserve an iommufd mapping it",
		   luo_preserve_fd(session, fd, 102), EOPNOTSUPP);
	luo_expect_log("can no longer be mapped");
	close(fd);
	close(outsider);

	/* more objects than a walk takes: refused, every reference put back */
	fd = iommufd_open();
	for (i = 0; i < 513; i++)
		if (iommufd_ioas_alloc(fd, &ioas))
			fail("IOAS %d of 513: %s", i + 1, strerror(errno));
	msg("ok: 513 IOAS");
	expect_err("preserve an iommufd of 513 objects",
		   luo_preserve_fd(session, fd, 103), EOPNOTSUPP);
	luo_expect_log("more than 512 objects");
	close(fd);
}

static int stage1(void)
{
	int dev, session, memfd;
	struct iommu_vmm_note *note;
	uint8_t *ram;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);

	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd: %s", strerror(errno));
	ram = luo_map(memfd, SIZE);
	iommu_vmm_setup(&vmm, bdf, memfd, ram, SIZE, IOVA_X);

	note = iommu_vmm_note(&vmm);
	iommu_vmm_copy(&vmm, PAGE_A, PAGE_B, note->seed);
	note->pfn = iommu_pfn_of(ram + PAGE_B);

	check_refusals(session);

	expect_ok("preserve the memfd",
		  luo_preserve_fd(session, memfd, IOMMU_VMM_TOKEN_MEM));
	expect_ok("preserve the iommufd",
		  luo_preserve_fd(session, vmm.iommufd,
				  IOMMU_VMM_TOKEN_IOMMUFD));
	msg("IOAS %u and HWPT %u preserved, page B at PFN %#llx", vmm.ioas,
	    vmm.hwpt, (unsigned long long)note->pfn);

	/* the VMM goes away: edu is released, the preserved HWPT stays */
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(dev);
	return luo_keep_and_kexec();	/* the session stays open */
}

static int stage2(void)
{
	int dev, session, memfd;
	struct iommu_vmm_note *note;
	char bdf[32];
	long len;

	edu_find(bdf, sizeof(bdf));
	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	note = (struct iommu_vmm_note *)vmm.ram;
	if (!edu_pattern_holds(vmm.ram + PAGE_A, note->seed) ||
	    !edu_pattern_holds(vmm.ram + PAGE_B, note->seed))
		fail("stage 1's pages were not carried");
	expect_u64("PFN of page B", note->pfn, iommu_pfn_of(vmm.ram + PAGE_B));
	msg("ok: stage 1's data at the same page frames");

	iommu_vmm_attach(&vmm, bdf);
	/* no map call: the carried mapping takes the DMA */
	iommu_vmm_copy(&vmm, PAGE_C, PAGE_D, note->seed + 1);

	len = iommufd_unmap_len(vmm.iommufd, vmm.ioas, IOVA_X, SIZE);
	expect_u64("bytes unmapped at the old IOVA", SIZE,
		   expect_ok("unmap", len));
	expect_ok("finish", luo_finish(session));
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_preserve",
			LUO_STAGES(stage1, stage2));
}
