// SPDX-License-Identifier: GPL-2.0
/*
 * An iommufd whose Live Update record is damaged must not be rebuilt from
 * it, nor take memory that is not its record. Stage 1 preserves guest RAM
 * and an iommufd that maps it with edu attached, finalizes, and through
 * the KHO test module makes the iommufd's record point at a page of guest
 * RAM; edu stays attached into the kexec. Stage 2: edu still reads guest
 * RAM through the handed-over VT-d tables; the iommufd is refused with
 * EINVAL and the kernel log says why; the memfd comes back whole at the
 * same page frames, and finishing the session frees none of it. Whose
 * devices the damaged record held is unknown, so finishing blocks every
 * device still on handed-over tables: edu's next read faults.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SESSION		"bad-iommufd"
#define SIZE		(8ULL << 20)
#define IOVA_X		(16ULL << 20)
#define LUO_DATA	KHO_DEBUGFS "/test/luo_data"
#define FINALIZE	"/sys/kernel/kho/finalize"
#define REASON		"is corrupt: not an iommufd record"
/* kho_variant=version: the record is one of a later format version */
#define REASON_VERSION	"is corrupt: an iommufd record of a version this kernel does not read"
#define TOKEN_FORGED	99
/* include/linux/kho/abi/iommufd.h: struct iommufd_luo_ser starts so */
#define IOMMUFD_MAGIC	0x31646675756d6d69ULL
#define IOMMUFD_VERSION	1

static int stage1(void)
{
	struct iommu_vmm vmm;
	int dev, session, memfd;
	char bdf[32], cmd[128];
	uint64_t *pfns, forged;

	if (access(LUO_DATA, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_DATA);
	edu_find(bdf, sizeof(bdf));
	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd: %s", strerror(errno));
	/* guest RAM holds the library's pattern, checked in stage 2 */
	luo_preserve_memfd(session, memfd, SIZE, IOMMU_VMM_TOKEN_MEM,
			   "guest RAM", false);
	iommu_vmm_setup(&vmm, bdf, memfd, luo_map(memfd, SIZE), SIZE, IOVA_X);
	expect_ok("preserve the iommufd",
		  luo_preserve_fd(session, vmm.iommufd,
				  IOMMU_VMM_TOKEN_IOMMUFD));

	forged = 0;
	if (luo_variant_is("version"))
		forged = luo_forge_record(session, TOKEN_FORGED, IOMMUFD_MAGIC,
					  IOMMUFD_VERSION + 1);
	luo_write_file(FINALIZE, "1");
	pfns = luo_pfns(vmm.ram, SIZE);
	snprintf(cmd, sizeof(cmd), "%s %d %#llx", SESSION,
		 IOMMU_VMM_TOKEN_IOMMUFD, forged ? (unsigned long long)forged :
		 (unsigned long long)pfns[SIZE / 4096 / 2] * 4096);
	luo_write_file(LUO_DATA, cmd);
	msg(forged ? "the iommufd's record is one of version 2" :
	    "the iommufd's record points at a page of guest RAM");
	free(pfns);
	/* edu stays attached: the holder keeps the VMM's files open */
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, memfd;
	struct edu e;
	char bdf[32];
	void *ram;

	edu_find(bdf, sizeof(bdf));
	edu_open_sysfs(&e, bdf);
	edu_dma(&e, IOVA_X, 0, EDU_DMA_MAX, false);
	if (luo_log_has("fault addr"))
		fail("edu faulted on the handed-over tables");
	msg("ok: edu reads guest RAM through the handed-over tables");

	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	expect_err("retrieve the iommufd with the damaged record",
		   luo_retrieve_fd(session, IOMMU_VMM_TOKEN_IOMMUFD), EINVAL);
	luo_expect_log(luo_variant_is("version") ? REASON_VERSION : REASON);
	expect_err("and again: still refused",
		   luo_retrieve_fd(session, IOMMU_VMM_TOKEN_IOMMUFD), EINVAL);
	if (luo_variant_is("version"))
		luo_check_forged(session, TOKEN_FORGED);

	memfd = expect_ok("retrieve the memfd",
			  luo_retrieve_fd(session, IOMMU_VMM_TOKEN_MEM));
	ram = luo_map(memfd, SIZE);
	luo_verify("guest RAM next to the damaged iommufd", ram, SIZE, 1,
		   IOMMU_VMM_TOKEN_MEM);
	luo_check_pfns("guest RAM next to the damaged iommufd", ram, SIZE);

	/* finish looks at the damaged record again: still nothing freed */
	expect_ok("finish", luo_finish(session));
	luo_expect_log("released: its DMA is blocked");
	edu_dma(&e, IOVA_X, 0, EDU_DMA_MAX, false);
	luo_expect_log_soon("fault addr 0x1000000 ");
	edu_close(&e);
	luo_verify("guest RAM after finish", ram, SIZE, 1,
		   IOMMU_VMM_TOKEN_MEM);
	munmap(ram, SIZE);
	close(memfd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_bad_record",
			LUO_STAGES(stage1, stage2));
}
