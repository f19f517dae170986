// SPDX-License-Identifier: GPL-2.0
/*
 * IOMMU_IOAS_MAP_FILE: a device DMAs through the IOMMU into the pages of
 * a memfd that was mapped by file and offset, not by a user VA.
 *
 * edu, bound to vfio-pci and attached to an IOAS behind QEMU's VT-d,
 * copies a page of the memfd into its buffer and back out to another
 * IOVA; the data must land at the matching offset of the memfd. Done for
 * a shmem memfd mapped whole, one mapped from an offset, and a 2 MiB
 * hugetlb memfd (many pages of one folio, each pinned). After an unmap,
 * a DMA to the old IOVA must not reach the memfd. Bad requests get their
 * errno and map nothing.
 */
#define _GNU_SOURCE
#include <linux/iommufd.h>
#include <sys/ioctl.h>

#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)
#endif

#define MiB		0x100000ULL
#define PAGE		4096ULL
#define IOVA_SHMEM	(16 * MiB)
#define IOVA_OFFSET	(32 * MiB)
#define IOVA_HUGE	(64 * MiB)
#define IOVA_BAD	(128 * MiB)

static int iommufd;
static uint32_t ioas;
static struct edu edu;

static int memfd_of(const char *name, uint64_t size, unsigned int flags)
{
	int fd = memfd_create(name, MFD_CLOEXEC | flags);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size))
		fail("ftruncate %s: %s", name, strerror(errno));
	return fd;
}

/* Where the test reads and writes a memfd: hugetlbfs has no write() */
static uint64_t *page_of(int fd, uint64_t off)
{
	void *p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       off & ~(2 * MiB - 1));

	if (p == MAP_FAILED)
		fail("mmap of the memfd at %#llx: %s",
		     (unsigned long long)off, strerror(errno));
	return (uint64_t *)((char *)p + (off & (2 * MiB - 1)));
}

static void unmap_page(uint64_t *p)
{
	munmap((void *)((uintptr_t)p & ~(2 * MiB - 1)), 2 * MiB);
}

static void fill(int fd, uint64_t off, uint64_t seed)
{
	uint64_t *buf = page_of(fd, off);

	edu_pattern_fill(buf, seed);
	unmap_page(buf);
}

static bool holds(int fd, uint64_t off, uint64_t seed)
{
	uint64_t *buf = page_of(fd, off);
	bool same = edu_pattern_holds(buf, seed);

	unmap_page(buf);
	return same;
}

/*
 * Page @from (memfd offset) goes through edu to page @to, by the IOVAs
 * @iova + offset - @start of a mapping of the memfd from @start.
 */
static void copy_by_dma(const char *what, int fd, uint64_t iova,
			uint64_t start, uint64_t from, uint64_t to)
{
	uint64_t seed = from ^ (to << 1) ^ iova;

	fill(fd, from, seed);
	edu_dma(&edu, iova + from - start, 0, EDU_DMA_MAX, false);
	edu_dma(&edu, iova + to - start, 0, EDU_DMA_MAX, true);
	if (!holds(fd, to, seed))
		fail("%s: memfd offset %#llx did not arrive at %#llx", what,
		     (unsigned long long)from, (unsigned long long)to);
	msg("ok: %s: DMA from IOVA %#llx to %#llx moved memfd offset %#llx to %#llx",
	    what, (unsigned long long)(iova + from - start),
	    (unsigned long long)(iova + to - start),
	    (unsigned long long)from, (unsigned long long)to);
}

static void check_refusals(int shmem)
{
	uint64_t iova = IOVA_BAD;
	int sealed, rdonly, pipefd[2];
	char path[64];

	expect_err("unknown flag",
		   iommufd_map_file_flags(iommufd, ioas, shmem, 0, PAGE, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA |
					  IOMMU_IOAS_MAP_READABLE | 0x80),
		   EOPNOTSUPP);
	expect_err("neither readable nor writeable",
		   iommufd_map_file_flags(iommufd, ioas, shmem, 0, PAGE, &iova,
					  IOMMU_IOAS_MAP_FIXED_IOVA), EINVAL);
	expect_err("fd -1", iommufd_map_file(iommufd, ioas, -1, 0, PAGE,
					     IOVA_BAD), EBADF);
	if (pipe(pipefd))
		fail("pipe: %s", strerror(errno));
	expect_err("a pipe", iommufd_map_file(iommufd, ioas, pipefd[0], 0,
					      PAGE, IOVA_BAD), EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);
	expect_err("a range past the end of the file",
		   iommufd_map_file(iommufd, ioas, shmem, 4 * MiB - PAGE,
				    2 * PAGE, IOVA_BAD), EINVAL);
	expect_err("an unknown IOAS",
		   iommufd_map_file(iommufd, ioas + 100, shmem, 0, PAGE,
				    IOVA_BAD), ENOENT);

	sealed = expect_ok("memfd_create sealed",
			   memfd_of("sealed", MiB, MFD_ALLOW_SEALING));
	if (fcntl(sealed, F_ADD_SEALS, F_SEAL_WRITE))
		fail("F_SEAL_WRITE: %s", strerror(errno));
	expect_err("writeable mapping of a write-sealed memfd",
		   iommufd_map_file(iommufd, ioas, sealed, 0, PAGE, IOVA_BAD),
		   EPERM);
	expect_ok("read-only mapping of a write-sealed memfd",
		  iommufd_map_file_flags(iommufd, ioas, sealed, 0, PAGE, &iova,
					 IOMMU_IOAS_MAP_FIXED_IOVA |
					 IOMMU_IOAS_MAP_READABLE));
	expect_ok("unmap it", iommufd_unmap(iommufd, ioas, IOVA_BAD, PAGE));
	close(sealed);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", shmem);
	rdonly = open(path, O_RDONLY);
	if (rdonly < 0)
		fail("open %s read-only: %s", path, strerror(errno));
	expect_err("writeable mapping of a memfd open read-only",
		   iommufd_map_file(iommufd, ioas, rdonly, 0, PAGE, IOVA_BAD),
		   EBADF);
	close(rdonly);

	/* nothing was left mapped by the refusals */
	expect_err("unmap of the IOVA the bad requests named",
		   iommufd_unmap(iommufd, ioas, IOVA_BAD, PAGE), ENOENT);
	msg("ok: bad requests refused with their errno");
}

static int stage1(void)
{
	uint64_t before = 0x5a5aULL;
	uint32_t pt = 0;
	int shmem, huge;
	char bdf[32];

	edu_find(bdf, sizeof(bdf));
	luo_set_nr_hugepages(4);
	iommufd = iommufd_open();
	expect_ok("IOMMU_IOAS_ALLOC", iommufd_ioas_alloc(iommufd, &ioas));
	edu_open_vfio(&edu, bdf, iommufd);
	pt = ioas;
	expect_ok("attach edu to the IOAS", edu_attach(&edu, &pt));
	msg("edu %s: id %#x, attached to HWPT %u of IOAS %u", bdf,
	    edu_read32(&edu, EDU_REG_ID), pt, ioas);

	shmem = expect_ok("memfd_create", memfd_of("guest-ram", 4 * MiB, 0));
	expect_ok("MAP_FILE a shmem memfd",
		  iommufd_map_file(iommufd, ioas, shmem, 0, 4 * MiB,
				   IOVA_SHMEM));
	copy_by_dma("shmem", shmem, IOVA_SHMEM, 0, 0, 2 * MiB + PAGE);
	copy_by_dma("shmem", shmem, IOVA_SHMEM, 0, 3 * MiB, 5 * PAGE);

	expect_ok("MAP_FILE from an offset",
		  iommufd_map_file(iommufd, ioas, shmem, MiB, MiB,
				   IOVA_OFFSET));
	copy_by_dma("offset", shmem, IOVA_OFFSET, MiB, MiB + 2 * PAGE,
		    2 * MiB - PAGE);

	huge = memfd_of("guest-ram-2m", 4 * MiB, MFD_HUGETLB | MFD_HUGE_2MB);
	if (huge < 0)
		fail("hugetlb memfd: %s", strerror(-huge));
	expect_ok("MAP_FILE a hugetlb memfd",
		  iommufd_map_file(iommufd, ioas, huge, 0, 4 * MiB,
				   IOVA_HUGE));
	/*
	 * The memfd was never mapped, so it has no reservations: the pin
	 * filled its holes with pages it reserved itself. Stock 6.12 took
	 * them out of reservations nobody had made, and the count went
	 * below zero (a VM_BUG_ON with CONFIG_DEBUG_VM).
	 */
	expect_u64("reserved huge pages with the hugetlb memfd pinned", 0,
		   luo_meminfo("HugePages_Rsvd"));
	copy_by_dma("hugetlb", huge, IOVA_HUGE, 0, 7 * PAGE,
		    2 * MiB + 100 * PAGE);
	copy_by_dma("hugetlb", huge, IOVA_HUGE, 0, 4 * MiB - PAGE, PAGE);

	/* gone from the IOMMU after the unmap: the DMA faults */
	expect_ok("unmap the shmem mapping",
		  iommufd_unmap(iommufd, ioas, IOVA_SHMEM, 4 * MiB));
	fill(shmem, 0, before);
	fill(shmem, 8 * PAGE, before);
	edu_dma(&edu, IOVA_SHMEM, 0, EDU_DMA_MAX, true);
	if (!holds(shmem, 0, before) || !holds(shmem, 8 * PAGE, before))
		fail("a DMA to an unmapped IOVA reached the memfd");
	msg("ok: a DMA to the unmapped IOVA %#llx did not reach the memfd",
	    IOVA_SHMEM);

	check_refusals(shmem);

	edu_close(&edu);
	close(iommufd);
	close(shmem);
	close(huge);
	/* every pin let go: the huge pages went back to the pool */
	if (luo_meminfo("HugePages_Free") != luo_meminfo("HugePages_Total"))
		fail("%ld of %ld huge pages free once all is closed: pins leaked",
		     luo_meminfo("HugePages_Free"), luo_meminfo("HugePages_Total"));
	msg("ok: all %ld huge pages back in the pool once all is closed",
	    luo_meminfo("HugePages_Total"));
	expect_u64("reserved huge pages once all is closed", 0,
		   luo_meminfo("HugePages_Rsvd"));
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_map_file", LUO_STAGES(stage1));
}
