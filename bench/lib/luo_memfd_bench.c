// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark body for bench/luo_shmem_bench.c and bench/luo_hugetlb_bench.c: preserve a
 * 1 GiB memfd (of 2 MiB huge pages for the hugetlb one), freeze it through
 * KHO finalize, kexec, retrieve it. Prints "bench:" lines; asserts no
 * timing.
 */
#include "luo_test_utils.h"
#include "luo_memfd_bench.h"

#define SIZE	(1ULL << 30)
#define TOKEN	0xbe
#define HPAGES	(SIZE >> 21)

static bool hugetlb;

static int stage1(void)
{
	double t0, t1, t2, t3;
	int dev, session, fd;
	FILE *f;
	void *map;

	if (hugetlb) {
		f = fopen("/proc/sys/vm/nr_hugepages", "w");
		if (!f || fprintf(f, "%llu\n", HPAGES) < 0 || fclose(f))
			skip("cannot size the huge page pool");
		fd = memfd_create("bench", MFD_HUGETLB | (21U << 26));
	} else {
		fd = memfd_create("bench", 0);
	}
	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd of 1 GiB: %s", strerror(errno));
	map = luo_map(fd, SIZE);
	memset(map, 0x5a, SIZE);	/* every page present */
	munmap(map, SIZE);

	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, "bench"));
	t0 = luo_now_us();
	expect_ok("preserve", luo_preserve_fd(session, fd, TOKEN));
	t1 = luo_now_us();
	f = fopen("/sys/kernel/kho/finalize", "w");
	t2 = luo_now_us();
	if (!f || fprintf(f, "1\n") < 0 || fclose(f))
		fail("finalize: %s", strerror(errno));
	t3 = luo_now_us();
	printf("bench: %s 1 GiB: preserve ioctl %.0f us, freeze (KHO finalize) %.0f us\n",
	       hugetlb ? "hugetlb-2M" : "shmem", t1 - t0, t3 - t2);
	luo_bench_log("", "KHO: finalized in");
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd;
	double t0, t1;

	luo_bench_log("next kernel: ", "KHO: incoming map");
	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, "bench"));
	t0 = luo_now_us();
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN));
	t1 = luo_now_us();
	expect_u64("size", SIZE, luo_fd_size(fd));
	printf("bench: next kernel: retrieve ioctl %.0f us for 1 GiB\n", t1 - t0);
	return EXIT_PASS;
}

int luo_memfd_bench(int argc, char **argv, const char *name, bool huge)
{
	hugetlb = huge;
	return luo_test(argc, argv, name, LUO_STAGES(stage1, stage2));
}
