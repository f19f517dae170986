// SPDX-License-Identifier: GPL-2.0
/*
 * A device whose vfio-pci record is damaged stays as it is: running,
 * not reset, not handed to anyone, until its session lets it go.
 *
 * Stage 1 preserves guest RAM, the iommufd and edu's device file, leaves
 * a value in edu's liveness register, finalizes, and through the KHO
 * test module makes the device's record point at a page of guest RAM.
 *
 * Stage 2: edu still DMAs through the handed-over tables. vfio-pci binds
 * to it, but an open of it is refused with EBUSY while its session holds
 * it. Its retrieve fails with EINVAL and the log says why; the memfd
 * and the iommufd come back whole. The liveness value is still there:
 * nothing reset edu. Finishing the session blocks edu's DMA, and then
 * edu opens as any device does.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SESSION		"bad-vfio"
#define SIZE		(8ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL
#define STATE_PAGE	3
#define LUO_DATA	KHO_DEBUGFS "/test/luo_data"
#define REASON		"is corrupt: not a vfio-pci record"
/* kho_variant=version: the record is one of a later format version */
#define REASON_VERSION	"is corrupt: a vfio-pci record of a version this kernel does not read"
#define TOKEN_FORGED	99
/* include/linux/kho/abi/vfio_pci.h: struct vfio_pci_luo_ser starts so */
#define VFIO_MAGIC	0x31756c6f69636670ULL
#define VFIO_VERSION	1

static int stage1(void)
{
	struct iommu_vmm vmm;
	int dev, session;
	uint32_t *liveness;
	uint64_t *pfns, forged;
	char cmd[128];

	if (access(LUO_DATA, W_OK))
		skip("no %s (CONFIG_TEST_KEXEC_HANDOVER off)", LUO_DATA);
	dev = luo_open();
	iommu_vmm_prepare(&vmm, dev, SESSION, SIZE, IOVA_X, &session);
	liveness = (uint32_t *)(vmm.ram + STATE_PAGE * PAGE);
	*liveness = (uint32_t)luo_seed();
	edu_write32(&vmm.edu, EDU_REG_LIVENESS, *liveness);
	iommu_vmm_preserve_device(&vmm, session);
	forged = 0;
	if (luo_variant_is("version"))
		forged = luo_forge_record(session, TOKEN_FORGED, VFIO_MAGIC,
					  VFIO_VERSION + 1);
	luo_write_file("/sys/kernel/kho/finalize", "1");
	pfns = luo_pfns(vmm.ram, SIZE);
	snprintf(cmd, sizeof(cmd), "%s %d %#llx", SESSION,
		 IOMMU_VMM_TOKEN_DEVICE, forged ? (unsigned long long)forged :
		 (unsigned long long)pfns[SIZE / PAGE / 2] * PAGE);
	luo_write_file(LUO_DATA, cmd);
	msg(forged ? "edu's record is one of version 2" :
	    "edu's record points at a page of guest RAM");
	free(pfns);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	struct iommu_vmm vmm = { .edu = { .devfd = -1, .cfgfd = -1 } };
	int dev, session, memfd;
	uint32_t *liveness;
	struct edu e;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	expect_ok("bind vfio-pci to edu", edu_set_driver(bdf, "vfio-pci"));
	expect_err("open edu while its session holds it", edu_try_bind(bdf),
		   EBUSY);
	luo_expect_log("carried across the kexec by a Live Update session");

	dev = luo_open();
	session = expect_ok("retrieve the session",
			    luo_retrieve_session(dev, SESSION));
	expect_err("retrieve edu with the damaged record",
		   luo_retrieve_fd(session, IOMMU_VMM_TOKEN_DEVICE), EINVAL);
	luo_expect_log(luo_variant_is("version") ? REASON_VERSION : REASON);
	if (luo_variant_is("version"))
		luo_check_forged(session, TOKEN_FORGED);
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	expect_ok("the IOAS is back", iommufd_ioas_check(vmm.iommufd,
							 vmm.ioas));
	if (!edu_pattern_holds(vmm.ram + 2 * PAGE,
			       ((struct iommu_vmm_note *)vmm.ram)->seed))
		fail("guest RAM lost edu's copy");

	/* edu as the previous kernel left it: read through sysfs */
	expect_ok("unbind vfio-pci", edu_set_driver(bdf, ""));
	edu_open_sysfs(&e, bdf);
	liveness = (uint32_t *)(vmm.ram + STATE_PAGE * PAGE);
	expect_u64("edu's liveness register (inverted)", ~*liveness,
		   edu_read32(&e, EDU_REG_LIVENESS));
	edu_dma(&e, IOVA_X, 0, EDU_DMA_MAX, false);
	if (luo_log_has("fault addr"))
		fail("edu faulted on the handed-over tables");
	msg("ok: edu still running, never reset, DMA still translated");

	expect_ok("finish", luo_finish(session));
	luo_expect_log("released: its DMA is blocked");
	edu_close(&e);
	expect_ok("bind vfio-pci to edu again",
		  edu_set_driver(bdf, "vfio-pci"));
	expect_ok("open edu once its session let it go", edu_try_bind(bdf));
	msg("ok: released by the finish, edu opens as any device");
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "vfio_kho_bad_record",
			LUO_STAGES(stage1, stage2));
}
