// SPDX-License-Identifier: GPL-2.0
/*
 * What a vfio device file must be to be carried, and the errors when it
 * is not. edu's file is refused at preserve while it is not bound to an
 * iommufd (EINVAL), not attached to a HWPT (EINVAL), or bound to an
 * iommufd that is not in the session (ENOENT); once all three hold it
 * is taken. Detached again before the finalize, the finalize fails
 * (EINVAL) and says why; attached again, it succeeds, and an abort
 * leaves edu working.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"
#include <linux/vfio.h>

#define SIZE		(8ULL << 20)
#define IOVA_X		(16ULL << 20)
#define FINALIZE	"/sys/kernel/kho/finalize"
#define TOKEN_LONE	9

static int stage1(void)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_detach_iommufd_pt detach = {
		.argsz = sizeof(detach),
	};
	int dev = luo_open(), session, memfd, lone;
	struct iommu_vmm vmm;
	char bdf[32];
	uint32_t pt;

	edu_find(bdf, sizeof(bdf));
	session = luo_open_session(dev, "refusals", true);
	expect_ok("bind edu to vfio-pci", edu_set_driver(bdf, "vfio-pci"));

	lone = vfio_cdev_open(bdf);
	expect_err("preserve a device file not bound to an iommufd",
		   luo_preserve_fd(session, lone, TOKEN_LONE), EINVAL);
	luo_expect_log("not bound to an iommufd through its cdev");
	bind.iommufd = iommufd_open();
	expect_ok("VFIO_DEVICE_BIND_IOMMUFD",
		  luo_ioctl(lone, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	expect_err("preserve a device file attached to nothing",
		   luo_preserve_fd(session, lone, TOKEN_LONE), EINVAL);
	luo_expect_log("not attached to a paging HWPT of its iommufd");
	close(lone);
	close(bind.iommufd);

	memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd: %s", strerror(errno));
	iommu_vmm_setup(&vmm, bdf, memfd, luo_map(memfd, SIZE), SIZE, IOVA_X);
	expect_ok("preserve the memfd",
		  luo_preserve_fd(session, memfd, IOMMU_VMM_TOKEN_MEM));
	expect_err("preserve edu before its iommufd",
		   luo_preserve_fd(session, vmm.edu.devfd,
				   IOMMU_VMM_TOKEN_DEVICE), ENOENT);
	luo_expect_log("its iommufd is not preserved in the session");
	expect_ok("preserve the iommufd",
		  luo_preserve_fd(session, vmm.iommufd,
				  IOMMU_VMM_TOKEN_IOMMUFD));
	expect_ok("preserve edu after its iommufd",
		  luo_preserve_fd(session, vmm.edu.devfd,
				  IOMMU_VMM_TOKEN_DEVICE));

	expect_ok("detach edu",
		  luo_ioctl(vmm.edu.devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
			    &detach));
	expect_err("finalize with edu detached",
		   iommu_write_file(FINALIZE, "1"), EINVAL);
	pt = vmm.hwpt;
	expect_ok("attach edu again", edu_attach(&vmm.edu, &pt));
	expect_ok("finalize with edu attached",
		  iommu_write_file(FINALIZE, "1"));
	luo_expect_log("keeps running through the kexec");
	expect_ok("abort", iommu_write_file(FINALIZE, "0"));
	iommu_vmm_copy(&vmm, 4096, 2 * 4096, luo_seed());
	msg("ok: after the abort edu works as before");

	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "vfio_kho_refuse", LUO_STAGES(stage1));
}
