// SPDX-License-Identifier: GPL-2.0
/*
 * An iommufd whose device sits behind an IOMMU that cannot keep translating
 * across a kexec is refused at preserve, not carried into a kexec that
 * would turn its translation off under it. QEMU's AMD-Vi stands for every
 * IOMMU other than Intel VT-d in legacy mode.
 *
 * One stage: a VMM maps a memfd in an IOAS with MAP_FILE and attaches edu
 * (behind AMD-Vi) to a HWPT of it; edu copies a page through it. The
 * memfd is preserved; preserving the iommufd fails with EOPNOTSUPP and a
 * message naming edu. With edu detached and its HWPT destroyed, the same
 * iommufd can be preserved: nothing then depends on the IOMMU's
 * translation across the kexec.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#define SIZE		(8ULL << 20)
#define IOVA_X		(16ULL << 20)
#define PAGE		4096ULL

static int stage1(void)
{
	struct iommu_vmm_note *note;
	struct iommu_vmm vmm;
	int dev, session, memfd;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	dev = luo_open();
	session = luo_open_session(dev, "amd", true);
	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd: %s", strerror(errno));
	iommu_vmm_setup(&vmm, bdf, memfd, luo_map(memfd, SIZE), SIZE, IOVA_X);
	note = iommu_vmm_note(&vmm);
	iommu_vmm_copy(&vmm, PAGE, 2 * PAGE, note->seed);

	expect_ok("preserve the memfd",
		  luo_preserve_fd(session, memfd, IOMMU_VMM_TOKEN_MEM));
	expect_err("preserve the iommufd, edu attached behind AMD-Vi",
		   luo_preserve_fd(session, vmm.iommufd,
				   IOMMU_VMM_TOKEN_IOMMUFD), EOPNOTSUPP);
	luo_expect_log("its IOMMU cannot keep translating across a kexec");

	/* detached, its HWPT gone: no translation to keep, the IOAS goes */
	edu_close(&vmm.edu);
	expect_ok("destroy the HWPT", iommufd_destroy(vmm.iommufd, vmm.hwpt));
	expect_ok("preserve the iommufd, edu detached",
		  luo_preserve_fd(session, vmm.iommufd,
				  IOMMU_VMM_TOKEN_IOMMUFD));
	close(session);
	munmap(vmm.ram, SIZE);
	close(vmm.iommufd);
	close(memfd);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_amd", LUO_STAGES(stage1));
}
