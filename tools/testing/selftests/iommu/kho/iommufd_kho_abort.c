// SPDX-License-Identifier: GPL-2.0
/*
 * What a preserved iommufd does when the update does not happen.
 *
 * A VMM preserves its guest RAM (a hugetlb memfd) and its iommufd, then
 * maps a user VA into the IOAS. Finalizing the handover checks the
 * iommufd again and fails, saying why; once that mapping is gone it
 * succeeds, and edu is set to keep translating across the kexec; the
 * abort drops that again. While frozen, and after the abort, edu still DMAs through the
 * mappings, and after the abort the IOAS takes new mappings again. Then
 * the VMM exits before any kexec: closing the session lets go of
 * everything, and every huge page goes back to the pool.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)
#endif

#define SIZE		(4ULL << 20)
#define IOVA_X		(16ULL << 20)
#define IOVA_USER	(64ULL << 20)
#define PAGE		4096ULL
#define FINALIZE	"/sys/kernel/kho/finalize"

static struct iommu_vmm vmm;

/* Write @val to the finalize file: 0 or -errno */
static int finalize(const char *val)
{
	return iommu_write_file(FINALIZE, val);
}

static int stage1(void)
{
	int dev, session, memfd;
	char bdf[32];
	void *va;

	edu_find(bdf, sizeof(bdf));
	luo_set_nr_hugepages(2);
	if (luo_meminfo("HugePages_Free") < 2)
		fail("no two free 2 MiB pages");
	dev = luo_open();
	session = luo_open_session(dev, "aborted-vmm", true);
	memfd = memfd_create("guest-ram", MFD_CLOEXEC | MFD_HUGETLB |
			     MFD_HUGE_2MB);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("hugetlb memfd: %s", strerror(errno));
	iommu_vmm_setup(&vmm, bdf, memfd, luo_map(memfd, SIZE), SIZE, IOVA_X);
	iommu_vmm_copy(&vmm, PAGE, SIZE - PAGE, 1);
	expect_ok("preserve the memfd", luo_preserve_fd(session, memfd, 1));
	expect_ok("preserve the iommufd",
		  luo_preserve_fd(session, vmm.iommufd, 2));

	/* a mapping that cannot be carried, added after the preserve */
	va = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (va == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	expect_ok("map a user VA after the preserve",
		  iommufd_map_user(vmm.iommufd, vmm.ioas, va, 2 * PAGE,
				   IOVA_USER));
	expect_err("finalize with it", finalize("1"), EOPNOTSUPP);
	luo_expect_log("maps a user VA, not a memfd");
	expect_ok("unmap it",
		  iommufd_unmap(vmm.iommufd, vmm.ioas, IOVA_USER, 2 * PAGE));
	munmap(va, 2 * PAGE);
	expect_ok("finalize without it", finalize("1"));
	luo_expect_log("will keep translating across the kexec");
	iommu_vmm_copy(&vmm, 2 * PAGE, SIZE / 2, 2);

	expect_ok("abort", finalize("0"));
	luo_expect_log("handover tables dropped");
	iommu_vmm_copy(&vmm, 3 * PAGE, SIZE / 2 + PAGE, 3);
	expect_ok("a new mapping after the abort",
		  iommufd_map_file(vmm.iommufd, vmm.ioas, memfd, 0, SIZE,
				   IOVA_X + SIZE));
	expect_ok("and its unmap",
		  iommufd_unmap(vmm.iommufd, vmm.ioas, IOVA_X + SIZE, SIZE));

	/* the VMM exits before the kexec */
	close(session);
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(dev);
	if (luo_meminfo("HugePages_Free") != luo_meminfo("HugePages_Total"))
		fail("%ld of %ld huge pages free after the VMM exited: leaked",
		     luo_meminfo("HugePages_Free"),
		     luo_meminfo("HugePages_Total"));
	msg("ok: every huge page back in the pool after the VMM exited");
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_abort", LUO_STAGES(stage1));
}
