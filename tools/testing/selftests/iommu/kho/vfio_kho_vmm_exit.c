// SPDX-License-Identifier: GPL-2.0
/*
 * A VMM that exits before the kexec takes its device with it. Stage 1
 * preserves guest RAM, the iommufd and edu's device file, then closes
 * everything, the session included, without finalizing: the session
 * unpreserves the files and edu is closed as usual, with bus mastering
 * turned off, and can be opened again at once. Stage 2, after a kexec
 * with nothing preserved: edu is not treated as carried, and opens as
 * any device does.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"
#include <linux/pci_regs.h>

#define SIZE		(8ULL << 20)
#define IOVA_X		(16ULL << 20)
#define SESSION		"vfio-exits"

static uint16_t sysfs_command(const char *bdf)
{
	char path[128];
	uint16_t cmd;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, &cmd, sizeof(cmd), PCI_COMMAND) != sizeof(cmd))
		fail("read PCI_COMMAND of %s: %s", bdf, strerror(errno));
	close(fd);
	return cmd;
}

/* edu opens, binds and attaches as any device: nobody holds it */
static void edu_opens(const char *bdf)
{
	struct iommu_vmm vmm;
	int memfd;

	memfd = memfd_create("ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd: %s", strerror(errno));
	iommu_vmm_setup(&vmm, bdf, memfd, luo_map(memfd, SIZE), SIZE, IOVA_X);
	iommu_vmm_copy(&vmm, 0, 4096, luo_seed());
	iommu_vmm_release(&vmm, memfd, SIZE);
	msg("ok: edu opens, binds and DMAs as any device");
}

static int stage1(void)
{
	struct iommu_vmm vmm;
	int dev = luo_open(), session, memfd;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	memfd = iommu_vmm_prepare(&vmm, dev, SESSION, SIZE, IOVA_X, &session);
	iommu_vmm_preserve_device(&vmm, session);
	if (!(sysfs_command(bdf) & PCI_COMMAND_MASTER))
		fail("bus mastering is off while the VMM runs");

	/* the VMM exits */
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	if (sysfs_command(bdf) & PCI_COMMAND_MASTER)
		fail("bus mastering is still on after the VMM exited");
	msg("ok: the VMM's exit closed edu as usual: bus mastering off");
	edu_opens(bdf);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	if (luo_log_has("carried across the kexec"))
		fail("edu was treated as carried");
	edu_opens(bdf);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "vfio_kho_vmm_exit",
			LUO_STAGES(stage1, stage2));
}
