// SPDX-License-Identifier: GPL-2.0
/*
 * The preserved huge page counts (the KHO node memfd-hugetlb-pool) are the
 * previous kernel's word: a damaged record must not shrink the next
 * kernel's pool. Each stage preserves a hugetlbfs memfd of 4 pages from a
 * boot pool of 16 (hugepages=16), finalizes, damages the counts (the state
 * tree's checksums made good again, so only the memfd handler can tell)
 * and kexecs. The next kernel must say why it ignores them, allocate its
 * whole pool, and still give the memfd back, its pages surplus.
 * Stage 2: a compatible string of another version; stage 3: a node this
 * kernel does not have.
 */
#include "luo_test_utils.h"

#define HPAGE		(2ULL << 20)
#define POOL		16	/* hugepages= in vm.conf */
#define NR		4
#define SIZE		(NR * HPAGE)
#define TOKEN		0x9010
#define KHO		"/sys/kernel/debug/kho"

static long pool(const char *file)
{
	return luo_hstate_read(HPAGE >> 10, file);
}

/* Preserve a memfd of the pool, finalize, damage the counts with @how. */
static int hand_over_damaged(const char *how)
{
	int dev, session, fd;

	dev = luo_open();
	session = expect_ok("create session",
			    luo_create_session(dev, "pool-bad"));
	fd = luo_hugetlb_memfd("luo-pool-bad", HPAGE, SIZE);
	luo_preserve_memfd(session, fd, SIZE, TOKEN, "hugetlb memfd", true);
	close(fd);
	close(dev);
	luo_write_file(KHO "/out/finalize", "1");
	luo_write_file(KHO "/test/corrupt", how);
	return luo_keep_and_kexec();
}

/* The whole pool was allocated, and the memfd comes back as surplus. */
static void expect_ignored(const char *why)
{
	int dev, session, fd;
	void *map;

	luo_expect_log(why);
	expect_u64("2 MiB pool pages at boot", POOL, pool("nr_hugepages"));
	expect_u64("free 2 MiB pool pages at boot", POOL,
		   pool("free_hugepages"));
	dev = luo_open();
	session = expect_ok("retrieve session",
			    luo_retrieve_session(dev, "pool-bad"));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN));
	map = luo_map(fd, SIZE);
	luo_verify("hugetlb memfd", map, SIZE, 1, TOKEN);
	luo_check_pfns("hugetlb memfd", map, SIZE);
	expect_u64("2 MiB pages while held (pool and surplus)", POOL + NR,
		   pool("nr_hugepages"));
	expect_u64("surplus 2 MiB pages while held", NR,
		   pool("surplus_hugepages"));
	munmap(map, SIZE);
	close(fd);
	close(session);
	close(dev);
	expect_u64("surplus 2 MiB pages once the memfd is gone", 0,
		   pool("surplus_hugepages"));
	expect_u64("free 2 MiB pool pages once the memfd is gone", POOL,
		   pool("free_hugepages"));
}

static int stage1(void)
{
	expect_u64("2 MiB pool pages at boot", POOL, pool("nr_hugepages"));
	/* "memfd-hugetlb-pool-v1" becomes "memfd-hugetlb-pool-v9" */
	return hand_over_damaged("prop memfd-hugetlb-pool compatible 20 0x08");
}

static int stage2(void)
{
	expect_ignored("HugeTLB: the preserved memfd page counts are not a memfd-hugetlb-pool-v1 record: boot pools are allocated in full");
	/* struct memfd_luo_pool_ser: nid is bytes 4-7; node 64 */
	return hand_over_damaged("prop memfd-hugetlb-pool pages 4 0x40");
}

static int stage3(void)
{
	expect_ignored("HugeTLB: the preserved memfd page counts name node 64, which this kernel does not have: boot pools are allocated in full");
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_hugetlb_pool_bad",
			LUO_STAGES(stage1, stage2, stage3));
}
