// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark: an iommufd mapping 1 GiB of guest RAM across a Live Update
 * kexec, edu attached so that VT-d keeps translating, for three backings
 * and so three IOMMU page sizes: hugetlb of 1 GiB pages (when the pool
 * can get one), hugetlb of 2 MiB pages and shmem (4 KiB pages). Each
 * stage sets up one backing and kexecs; the next kernel's stage measures
 * that one's retrieve and the adoption of its VT-d tables, then sets up
 * the next backing. The metadata is the iommufd record and the VT-d
 * handover tables (root, context and page table copy). Prints "bench:"
 * lines; asserts no timing.
 */
#include "luo_test_utils.h"
#include "iommu_kho_util.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB	(21U << 26)
#endif
#ifndef MFD_HUGE_1GB
#define MFD_HUGE_1GB	(30U << 26)
#endif

#define SIZE		(1024ULL << 20)
#define IOVA_X		0ULL	/* edu reaches bus addresses below 256 MiB */
#define PAGE		4096ULL
#define SESSION		"bench"
#define FINALIZE	"/sys/kernel/kho/finalize"

static const struct backing {
	const char *name;
	unsigned int flags;
	unsigned long page_kb;	/* huge page size, 0 for shmem */
} backings[] = {
	{ "hugetlb-1G", MFD_HUGETLB | MFD_HUGE_1GB, 1048576 },
	{ "hugetlb-2M", MFD_HUGETLB | MFD_HUGE_2MB, 2048 },
	{ "shmem", 0, 0 },
};

#define NR_BACKINGS	3

static struct iommu_vmm vmm;

/* The number after @after in the last kernel log line with @key, or -1 */
static long dmesg_number(const char *key, const char *after)
{
	char cmd[256], line[512];
	long val = -1;
	const char *p;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "dmesg | grep '%s' | tail -n 1", key);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		p = strstr(line, after);
		if (p)
			val = strtol(p + strlen(after), NULL, 10);
	}
	pclose(f);
	return val;
}

/* Size @b's huge page pool for 1 GiB: false if it cannot be had */
static bool size_pool(const struct backing *b, unsigned long long bytes)
{
	unsigned long want, got = 0;
	char path[128], val[32];
	FILE *f;

	if (!b->page_kb)
		return true;
	want = bytes / (b->page_kb << 10);
	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages",
		 b->page_kb);
	snprintf(val, sizeof(val), "%lu", want);
	if (iommu_write_file(path, val))
		return false;
	f = fopen(path, "r");
	if (!f || fscanf(f, "%lu", &got) != 1)
		got = 0;
	if (f)
		fclose(f);
	return got >= want;
}

/* Map 1 GiB of backing @i for edu, preserve it all, finalize, kexec */
static int set_up(unsigned int i)
{
	const struct backing *b = &backings[i];
	double t0, t1, t2, t3, t4;
	struct iommu_vmm_note *note;
	int dev, session, memfd;
	char bdf[32];
	long pages, bytes;
	void *ram;

	if (!size_pool(b, SIZE)) {
		printf("bench: %s: not measured, the pool got no %lu KiB pages for 1 GiB\n",
		       b->name, b->page_kb);
		size_pool(b, 0);
		return luo_keep_and_kexec();	/* nothing preserved */
	}
	edu_find(bdf, sizeof(bdf));
	memfd = memfd_create("guest-ram", MFD_CLOEXEC | b->flags);
	if (memfd < 0 || ftruncate(memfd, SIZE))
		fail("memfd of 1 GiB (%s): %s", b->name, strerror(errno));
	ram = luo_map(memfd, SIZE);
	memset(ram, 0x5a, SIZE);	/* every page present */

	t0 = luo_now_us();
	iommu_vmm_setup(&vmm, bdf, memfd, ram, SIZE, IOVA_X);
	t1 = luo_now_us();
	note = iommu_vmm_note(&vmm);
	iommu_vmm_copy(&vmm, PAGE, 2 * PAGE, note->seed);

	dev = luo_open();
	session = luo_open_session(dev, SESSION, true);
	t2 = luo_now_us();
	expect_ok("preserve the memfd",
		  luo_preserve_fd(session, memfd, IOMMU_VMM_TOKEN_MEM));
	expect_ok("preserve the iommufd",
		  luo_preserve_fd(session, vmm.iommufd,
				  IOMMU_VMM_TOKEN_IOMMUFD));
	t3 = luo_now_us();
	luo_write_file(FINALIZE, "1");
	t4 = luo_now_us();
	printf("bench: %s 1 GiB: bind, attach and MAP_FILE %.0f us; ",
	       b->name, t1 - t0);
	printf("preserve memfd and iommufd %.0f us; finalize %.0f us\n",
	       t3 - t2, t4 - t3);
	luo_bench_log("", "will keep translating across the kexec");
	luo_bench_log("", "iommufd frozen:");
	luo_bench_log("", "KHO: finalized in");
	pages = dmesg_number("will keep translating", "copied, ");
	bytes = dmesg_number("iommufd frozen:", "a record of ");
	/* the copy, and one root and one context table page */
	printf("bench: %s 1 GiB: metadata %ld bytes: iommufd record %ld, VT-d handover %ld pages\n",
	       b->name, bytes + (pages + 2) * 4096, bytes, pages + 2);
	close(dev);
	return luo_keep_and_kexec();
}

/* In the next kernel: retrieve backing @i's iommufd and attach edu */
static void measure(unsigned int i)
{
	const struct backing *b = &backings[i];
	struct iommu_vmm_note *note;
	int dev, session, memfd;
	double t0, t1, t2;
	char bdf[32];

	dev = luo_open();
	session = luo_retrieve_session(dev, SESSION);
	if (session < 0) {
		printf("bench: next kernel: %s: no session, nothing carried\n",
		       b->name);
		close(dev);
		return;
	}
	luo_bench_log("next kernel: ", "adopting the handed-over tables");
	edu_find(bdf, sizeof(bdf));
	t0 = luo_now_us();
	memfd = iommu_vmm_retrieve(&vmm, session, SIZE, IOVA_X);
	t1 = luo_now_us();
	iommu_vmm_attach(&vmm, bdf);
	t2 = luo_now_us();
	note = (struct iommu_vmm_note *)vmm.ram;
	if (!edu_pattern_holds(vmm.ram + 2 * PAGE, note->seed))
		fail("the page edu copied before the kexec was not carried");
	iommu_vmm_copy(&vmm, 3 * PAGE, 4 * PAGE, note->seed + 1);
	printf("bench: next kernel: %s 1 GiB: retrieve memfd and iommufd %.0f us; ",
	       b->name, t1 - t0);
	printf("bind and attach %.0f us\n", t2 - t1);
	luo_expect_log_soon("handed-over page table freed");
	expect_ok("finish", luo_finish(session));
	iommu_vmm_release(&vmm, memfd, SIZE);
	close(session);
	close(dev);
	size_pool(b, 0);
}

static int stage_first(void)
{
	return set_up(0);
}

static int stage_next(void)
{
	unsigned int i = luo_test_stage() - 1;

	measure(i - 1);
	if (i == NR_BACKINGS)
		return EXIT_PASS;
	return set_up(i);
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "iommufd_kho_bench",
			LUO_STAGES(stage_first, stage_next, stage_next,
				   stage_next));
}
