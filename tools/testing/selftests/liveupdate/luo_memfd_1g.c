// SPDX-License-Identifier: GPL-2.0
/*
 * A 1 GiB shmem memfd across kexec without a copy: stage 1 fills it with a
 * seeded pattern (seed and checksum in its first page), preserves it and
 * records the PFN of every page; stage 2 checks the pattern and that every
 * page is at the same PFN.
 */
#include "luo_test_utils.h"

#define SIZE		(1ULL << 30)
#define TOKEN		0x1000

static int stage1(void)
{
	int dev, session, fd;

	dev = luo_open();
	session = expect_ok("create session", luo_create_session(dev, "big"));
	fd = memfd_create("luo-1g", 0);
	if (fd < 0 || ftruncate(fd, SIZE))
		fail("memfd of 1 GiB: %s", strerror(errno));
	luo_preserve_memfd(session, fd, SIZE, TOKEN, "1 GiB memfd", true);
	close(fd);
	close(dev);
	return luo_keep_and_kexec();
}

static int stage2(void)
{
	int dev, session, fd;
	void *map;

	dev = luo_open();
	session = expect_ok("retrieve session", luo_retrieve_session(dev, "big"));
	fd = expect_ok("retrieve memfd", luo_retrieve_fd(session, TOKEN));
	expect_u64("size", SIZE, luo_fd_size(fd));
	map = luo_map(fd, SIZE);
	luo_verify("1 GiB memfd", map, SIZE, 1, TOKEN);
	luo_check_pfns("1 GiB memfd", map, SIZE);
	expect_ok("finish", luo_finish(session));
	munmap(map, SIZE);
	close(fd);
	close(session);
	close(dev);
	return EXIT_PASS;
}

int main(int argc, char **argv)
{
	return luo_test(argc, argv, "luo_memfd_1g", LUO_STAGES(stage1, stage2));
}
