// SPDX-License-Identifier: GPL-2.0
/*
 * A hugetlbfs memfd of 2 MiB pages across kexec without a copy: same
 * pattern and PFN checks as the 1 GiB shmem test. In the new kernel the
 * huge pages come back as surplus pages of the 2 MiB pool: mapping the
 * file needs no free huge page, and once the file is gone the pool is as
 * it was (no surplus, no reservation left behind).
 */
#include "luo_test_utils.h"

#define HPAGE		(2ULL << 20)
#define NR_HPAGES	512	/* 1 GiB */
#define SIZE		(NR_HPAGES * HPAGE)
#define POOL		(NR_HPAGES + 16)
#define TOKEN		0x2000

static int stage1(void)
{
	int dev, session, fd;

	if (luo_meminfo("Hugepagesize") != 2048)
		skip("default huge page size is not 2 MiB");
	luo_set_nr_hugepages(POOL);
	if (luo_meminfo("HugePages_Total") < NR_HPAGES)
		skip("only %ld huge pages in the pool",
		     luo_meminfo("HugePages_Total"));

	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, "huge"));
	fd = luo_hugetlb_memfd("luo-huge", HPAGE, SIZE);
	luo_preserve_memfd(session, fd, SIZE, TOKEN, "hugetlb memfd", true);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd;
	void *map;

	expect_u64("persistent huge pages before retrieve", 0,
		   luo_meminfo("HugePages_Total"));

	dev = luo_open();
	session = expect_ok("retrieve session", luo_retrieve_session(dev, "huge"));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN));
	expect_u64("size", SIZE, luo_fd_size(fd));
	expect_u64("surplus huge pages while held", NR_HPAGES,
		   luo_meminfo("HugePages_Surp"));

	/* fully populated: mapping it needs no reservation from the pool */
	map = luo_map(fd, SIZE);
	luo_verify("hugetlb memfd", map, SIZE, 1, TOKEN);
	luo_check_pfns("hugetlb memfd", map, SIZE);
	expect_u64("reserved huge pages while mapped", 0,
		   luo_meminfo("HugePages_Rsvd"));

	/* still an ordinary hugetlb memfd: writable */
	((char *)map)[SIZE - 1] = 1;
	if (((char *)map)[SIZE - 1] != 1)
		fail("write to the restored hugetlb memfd did not stick");
	munmap(map, SIZE);

	close(fd);
	close(session);		/* finishes: the session's reference goes */
	close(dev);
	expect_u64("huge pages after the file is gone", 0,
		   luo_meminfo("HugePages_Total"));
	expect_u64("surplus huge pages after the file is gone", 0,
		   luo_meminfo("HugePages_Surp"));
	expect_u64("reserved huge pages after the file is gone", 0,
		   luo_meminfo("HugePages_Rsvd"));
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_hugetlb", LUO_STAGES(stage1, stage2));
}
